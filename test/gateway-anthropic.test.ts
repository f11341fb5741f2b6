/**
 * The Anthropic Messages API (`POST /v1/messages`) with the official
 * `@anthropic-ai/sdk`: relayed to channels that speak it (anthropic, mock),
 * streamed and not, metered from Anthropic's usage fields.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let upstream: MockUpstream;
let client: Anthropic;

before(async () => {
  fx = await startFixture();
  upstream = await startMockUpstream({ chunks: 4 });
  const c = await fx.tg.store.channels.add({ name: 'claude', type: 'anthropic', baseUrl: upstream.url, models: [{ model: 'claude-x', upstreamModel: 'claude-upstream' }] });
  await fx.tg.store.channels.addKey(c.id, 'sk-ant-upstream');
  await fx.tg.store.prices.set({ model: 'claude-x', channelId: null, inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, free: false });
  await fx.tg.store.users.credit(fx.userId, 1_000_000_000);
  await fx.tg.sync.pollNow();
  client = new Anthropic({ apiKey: fx.key, baseURL: fx.url, maxRetries: 0 });
});
after(async () => {
  await fx.close();
  await upstream.close();
});

test('messages.create, non-streamed: relayed with the upstream key in x-api-key and the model renamed', async () => {
  const msg = await client.messages.create({ model: 'claude-x', max_tokens: 9, messages: [{ role: 'user', content: 'Hello' }] });
  assert.equal(msg.type, 'message');
  assert.equal(msg.usage.output_tokens, 9);
  assert.equal(upstream.stats.lastRequest?.headers['x-api-key'], 'sk-ant-upstream');
  assert.equal(upstream.stats.lastRequest?.headers.authorization, undefined);
  assert.match(String(upstream.stats.lastRequest?.headers['anthropic-version']), /^\d{4}-\d{2}-\d{2}$/, "the client's anthropic-version is forwarded");
  assert.equal(upstream.stats.lastRequest?.body.model, 'claude-upstream');
});

test('messages.stream: text matches the non-streamed answer; usage metered from message_start/message_delta', async () => {
  const params = { model: 'claude-x', max_tokens: 12, messages: [{ role: 'user' as const, content: 'Stream it' }] };
  const whole = await client.messages.create(params);
  const wholeText = whole.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
  const stream = client.messages.stream(params);
  let text = '';
  stream.on('text', (t) => (text += t));
  const final = await stream.finalMessage();
  assert.equal(text, wholeText);
  assert.equal(final.usage.output_tokens, 12);
  await fx.tg.accounting!.writer.flush();
  const page = await fx.tg.store.usage.page({ userId: fx.userId, model: 'claude-x', limit: 10 });
  const streamed = page.records[0];
  assert.equal(streamed.completionTokens, 12);
  assert.ok(streamed.promptTokens > 0);
  assert.equal(streamed.costMicros, Math.ceil((streamed.promptTokens * 3_000_000 + 12 * 15_000_000) / 1_000_000));
});

test('an Anthropic model is served on chat by translation; an unknown model is 404 in Anthropic\'s shape', async () => {
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-x', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).object, 'chat.completion');
  assert.equal(upstream.stats.lastRequest?.path, '/v1/messages');
  await assert.rejects(
    client.messages.create({ model: 'no-such', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }),
    (err: { status?: number; error?: { error?: { type?: string } } }) => err.status === 404 && err.error?.error?.type === 'not_found_error',
  );
});
