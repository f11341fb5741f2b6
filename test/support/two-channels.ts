/**
 * A gateway with one channel of each protocol family, each on its own mock
 * upstream: `oai` (type openai, model gpt-x) and `ant` (type anthropic, model
 * claude-x). The protocol, translation, billing and client-library tests all
 * start from it.
 */
import assert from 'node:assert/strict';
import { startMockUpstream, type MockUpstream } from '../../src/mock/mock-upstream.ts';
import type { PriceInput, UsageRecord } from '../../src/store/store.ts';
import { startFixture, type Fixture } from './gateway-fixture.ts';

export interface TwoChannels {
  fx: Fixture;
  /** The upstream of the OpenAI-type channel (model gpt-x), keyed sk-oai-upstream. */
  oai: MockUpstream;
  /** The upstream of the Anthropic channel (model claude-x), keyed sk-ant-upstream. */
  ant: MockUpstream;
  close(): Promise<void>;
}

export interface TwoChannelOptions {
  /** Config overrides for the gateway. */
  env?: Record<string, string>;
  /** Content chunks per streamed answer. */
  chunks?: number;
  /** Upstream model names (default: the client's). */
  upstreamModels?: { oai: string; ant: string };
  /** The price of both models; default free. */
  price?: Omit<PriceInput, 'model' | 'channelId' | 'free'>;
  /** Credits given to the fixture's user. */
  credit?: number;
}

export async function startTwoChannels(opts: TwoChannelOptions = {}): Promise<TwoChannels> {
  const fx = await startFixture(opts.env);
  const oai = await startMockUpstream({ chunks: opts.chunks ?? 4 });
  const ant = await startMockUpstream({ chunks: opts.chunks ?? 4 });
  const o = await fx.tg.store.channels.add({ name: 'oai', type: 'openai', baseUrl: `${oai.url}/v1`, models: [{ model: 'gpt-x', upstreamModel: opts.upstreamModels?.oai ?? 'gpt-x' }] });
  await fx.tg.store.channels.addKey(o.id, 'sk-oai-upstream');
  const a = await fx.tg.store.channels.add({ name: 'ant', type: 'anthropic', baseUrl: ant.url, models: [{ model: 'claude-x', upstreamModel: opts.upstreamModels?.ant ?? 'claude-x' }] });
  await fx.tg.store.channels.addKey(a.id, 'sk-ant-upstream');
  for (const model of ['gpt-x', 'claude-x']) {
    await fx.tg.store.prices.set(opts.price === undefined
      ? { model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true }
      : { model, channelId: null, ...opts.price, free: false });
  }
  if (opts.credit !== undefined) await fx.tg.store.users.credit(fx.userId, opts.credit);
  await fx.tg.sync.pollNow();
  return {
    fx, oai, ant,
    async close() {
      await fx.close();
      await oai.close();
      await ant.close();
    },
  };
}

export type ClientProtocol = 'chat' | 'responses' | 'messages';
export const CLIENT_PROTOCOLS: readonly ClientProtocol[] = ['chat', 'responses', 'messages'];

/** The same short conversation (a system prompt, one question) in each client protocol. */
export function conversation(client: ClientProtocol, model: string, stream: boolean, maxTokens: number): { path: string; body: object } {
  const system = 'Answer briefly.';
  const user = 'What is the capital of Norway?';
  if (client === 'chat') return { path: '/v1/chat/completions', body: { model, stream, max_tokens: maxTokens, messages: [{ role: 'system', content: system }, { role: 'user', content: user }] } };
  if (client === 'responses') return { path: '/v1/responses', body: { model, stream, max_output_tokens: maxTokens, instructions: system, input: user } };
  return { path: '/v1/messages', body: { model, stream, max_tokens: maxTokens, system, messages: [{ role: 'user', content: user }] } };
}

/** Sends `conversation(...)` with `requestId` (expects 200), then returns its usage record once written. */
export async function sendAndRecord(fx: Fixture, requestId: string, client: ClientProtocol, model: string, stream: boolean, maxTokens: number): Promise<UsageRecord> {
  const { path, body } = conversation(client, model, stream, maxTokens);
  const r = await fetch(`${fx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(body) });
  assert.equal(r.status, 200, `${requestId}: ${r.status}`);
  await r.text();
  await fx.tg.accounting!.writer.flush();
  const record = (await fx.tg.store.usage.page({ userId: fx.userId, model, limit: 50 })).records.find((x) => x.requestId.startsWith(`${requestId}~`));
  assert.ok(record !== undefined, `a record for ${requestId}`);
  return record;
}
