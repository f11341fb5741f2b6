/**
 * A gateway with one channel of each protocol family, each on its own mock
 * upstream: `oai` (type openai, model gpt-x) and `ant` (type anthropic, model
 * claude-x). The protocol, translation, billing and client-library tests all
 * start from it.
 */
import { startMockUpstream, type MockUpstream } from '../../src/mock/mock-upstream.ts';
import type { PriceInput } from '../../src/store/store.ts';
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
