/**
 * `upstream.onClientAbort: drain`: when a client leaves mid-stream, the gateway
 * keeps reading the upstream (bounded by drainTimeoutMs) so the record gets
 * the upstream's own final usage instead of a count of what was sent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let slow: MockUpstream;

before(async () => {
  fx = await startFixture({ TOLLGATE_UPSTREAM_ON_CLIENT_ABORT: 'drain', TOLLGATE_UPSTREAM_DRAIN_TIMEOUT_MS: '5000' });
  slow = await startMockUpstream({ chunks: 8, chunkDelayMs: 40 });
  const c = await fx.tg.store.channels.add({ name: 'slow', type: 'openai', baseUrl: slow.url, models: [{ model: 'slow', upstreamModel: 'slow' }] });
  await fx.tg.store.channels.addKey(c.id, 'sk-slow');
  await fx.tg.store.prices.set({ model: 'slow', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await slow.close();
});

test('a client that leaves mid-stream: the upstream is read to the end and its usage recorded', async () => {
  const controller = new AbortController();
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    signal: controller.signal,
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': 'drain-me' },
    body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }], max_tokens: 40, stream: true }),
  });
  for await (const _chunk of res.body) break; // first bytes, then leave
  controller.abort();
  const deadline = Date.now() + 5000;
  while (fx.tg.gateway.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(slow.stats.aborted, 0, 'the upstream stream was not cut');
  await fx.tg.accounting!.writer.flush();
  const rec = (await fx.tg.store.usage.page({ userId: fx.userId, limit: 10 })).records.find((r) => r.requestId.startsWith('drain-me'));
  assert.ok(rec);
  assert.equal(rec.outcome, 'client_abort');
  assert.equal(rec.completionTokens, 40, "the upstream's own usage, read after the client left");
});
