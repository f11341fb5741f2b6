/**
 * Failover and cooldowns: a connect error, reset, timeout, 5xx, 429 or bad
 * upstream key before the first byte goes to the next channel/key; after the
 * first byte, never retried. Client disconnect aborts the upstream request.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let primary: MockUpstream;
let secondary: MockUpstream;

before(async () => {
  fx = await startFixture({ TOLLGATE_UPSTREAM_HEADERS_TIMEOUT_MS: '500', TOLLGATE_UPSTREAM_COOLDOWN_BASE_MS: '60000' });
  primary = await startMockUpstream({ chunks: 6, chunkDelayMs: 20 });
  secondary = await startMockUpstream({ chunks: 6 });
  const a = await fx.tg.store.channels.add({ name: 'primary', type: 'openai', baseUrl: `${primary.url}/v1`, priority: 10, models: [{ model: 'gpt-x', upstreamModel: 'gpt-x-upstream' }] });
  await fx.tg.store.channels.addKey(a.id, 'sk-primary');
  const b = await fx.tg.store.channels.add({ name: 'secondary', type: 'openai', baseUrl: secondary.url, priority: 5, models: [{ model: 'gpt-x', upstreamModel: 'gpt-x' }] });
  await fx.tg.store.channels.addKey(b.id, 'sk-secondary');
  await fx.tg.store.prices.set({ model: 'gpt-x', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await primary.close();
  await secondary.close();
});
beforeEach(() => {
  primary.setFault(null);
  primary.resetStats();
  secondary.resetStats();
  // Each test starts with healthy channels.
  for (const c of fx.tg.gateway.routes.channels) fx.tg.gateway.health.succeed(c.health);
  for (const c of fx.tg.gateway.routes.channels) for (const k of c.keys) fx.tg.gateway.health.succeed(k.health);
});

function chat(body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, ...body }),
  });
}

test('healthy primary serves, with the model renamed upstream', async () => {
  const res = await chat();
  assert.equal(res.statusCode, 200);
  await res.body.json();
  assert.equal(primary.stats.requests, 1);
  assert.equal(primary.stats.lastRequest?.body.model, 'gpt-x-upstream');
  assert.equal(primary.stats.lastRequest?.headers.authorization, 'Bearer sk-primary');
  assert.equal(secondary.stats.requests, 0);
});

for (const fault of [
  { kind: 'status', status: 500 },
  { kind: 'status', status: 429 },
  { kind: 'status', status: 401 },
  { kind: 'reset' },
  { kind: 'hang' },
] as const) {
  test(`primary ${fault.kind}${'status' in fault ? ` ${fault.status}` : ''} → served by secondary, primary cooled down`, async () => {
    primary.setFault(fault);
    const res = await chat();
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as any;
    assert.equal(body.object, 'chat.completion');
    assert.equal(primary.stats.requests, 1);
    assert.equal(secondary.stats.requests, 1);
    // Cooldown: the next request goes straight to the secondary.
    primary.setFault(null);
    const again = await chat();
    await again.body.json();
    assert.equal(primary.stats.requests, 1, 'primary is cooling down');
    assert.equal(secondary.stats.requests, 2);
    await fx.tg.accounting!.writer.flush();
  });
}

test('a reset after the first byte is not retried: the client gets a cut stream', async () => {
  primary.setFault({ kind: 'reset-mid-stream', afterChunks: 2 });
  const res = await chat({ stream: true });
  assert.equal(res.statusCode, 200);
  const text = await res.body.text().catch((err) => `ERR ${err.message}`);
  assert.ok(!text.includes('[DONE]'), 'the stream was cut');
  assert.equal(secondary.stats.requests, 0, 'never retried after the first byte');
});

test('a reset in mid-answer cools the channel: the next request goes to the other one', async () => {
  primary.setFault({ kind: 'reset-mid-stream', afterChunks: 2 });
  const cut = await chat({ stream: true });
  await cut.body.text().catch(() => '');
  primary.setFault(null);
  const next = await chat({ stream: true });
  assert.equal(next.statusCode, 200);
  assert.ok((await next.body.text()).includes('[DONE]'));
  assert.equal(primary.stats.requests, 1, 'the channel that cut the answer was not chosen again');
  assert.equal(secondary.stats.requests, 1);
});

test('every candidate failing → the last upstream error in OpenAI shape, with the request id', async () => {
  primary.setFault({ kind: 'status', status: 503 });
  secondary.setFault({ kind: 'status', status: 500 });
  try {
    const res = await chat({}, { 'x-request-id': 'req-all-fail' });
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['x-request-id'], 'req-all-fail');
    const body = (await res.body.json()) as any;
    assert.equal(body.error.type, 'api_error');
    assert.match(body.error.message, /secondary.*500/);
    assert.ok(!JSON.stringify(body).includes('    at '), 'no stack trace');
  } finally {
    secondary.setFault(null);
  }
});

test('client disconnect mid-stream aborts the upstream request and is metered', async () => {
  const controller = new AbortController();
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    signal: controller.signal,
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': 'abort-me' },
    body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, stream: true }),
  });
  let seen = '';
  for await (const chunk of res.body) {
    seen += chunk.toString();
    if (seen.includes('"content":"') && seen.split('\n\n').length > 3) break;
  }
  controller.abort();
  const deadline = Date.now() + 3000;
  while (primary.stats.aborted < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(primary.stats.aborted, 1, 'the mock saw the upstream request aborted');
  while (fx.tg.gateway.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await fx.tg.accounting!.writer.flush();
  const page = await fx.tg.store.usage.page({ userId: fx.userId, limit: 1000 });
  const rec = page.records.find((r) => r.requestId.startsWith('abort-me'));
  assert.ok(rec, 'a usage record exists for the aborted stream');
  assert.equal(rec.outcome, 'client_abort');
  assert.ok(rec.completionTokens > 0 && rec.completionTokens < 60, `tokens produced so far were counted: ${rec.completionTokens}`);
});

test('failed attempts are not charged: a failover charges once, a total failure charges nothing', async () => {
  await fx.tg.store.prices.set({ model: 'gpt-x', channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 1_000_000, free: false });
  const payer = await fx.newUser('failover-payer', 1_000_000);
  await fx.tg.sync.pollNow();
  const call = (id: string) => request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${payer.key}`, 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6 }),
  });
  try {
    primary.setFault({ kind: 'status', status: 500 });
    const failover = await call('charged-once');
    assert.equal(failover.statusCode, 200);
    await failover.body.json();
    secondary.setFault({ kind: 'status', status: 500 });
    for (const c of fx.tg.gateway.routes.channels) fx.tg.gateway.health.succeed(c.health);
    const failed = await call('charged-nothing');
    assert.equal(failed.statusCode, 502);
    await failed.body.json();
    await fx.tg.accounting!.writer.flush();
    const rows = (await fx.tg.store.usage.page({ userId: payer.userId, limit: 10 })).records;
    const once = rows.find((r) => r.requestId.startsWith('charged-once'))!;
    const nothing = rows.find((r) => r.requestId.startsWith('charged-nothing'))!;
    assert.equal(once.attempts, 2);
    assert.ok(once.costMicros > 0);
    assert.equal(nothing.outcome, 'upstream_error');
    assert.equal(nothing.costMicros, 0);
    assert.equal((await fx.tg.store.users.byId(payer.userId))!.balanceMicros, 1_000_000 - once.costMicros);
  } finally {
    secondary.setFault(null);
    await fx.tg.store.prices.set({ model: 'gpt-x', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
    await fx.tg.sync.pollNow();
  }
});
