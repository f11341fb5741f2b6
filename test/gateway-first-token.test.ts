/**
 * First-token timeout: a streamed request whose channel sends no first byte in
 * time fails over before anything reached the client, the slow channel cools
 * down, the request is charged once and its record counts both attempts; when
 * every channel is slow the client gets a 504. Set through the admin API.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let slow: MockUpstream;
let fast: MockUpstream;
let slowId: number;

const admin = (method: 'PATCH' | 'GET', path: string, body?: unknown) => request(`${fx.url}${path}`, {
  method,
  headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
  body: body === undefined ? undefined : JSON.stringify(body),
});

before(async () => {
  fx = await startFixture({ TOLLGATE_UPSTREAM_COOLDOWN_BASE_MS: '60000' });
  // Headers (and so every byte) only after 800 ms.
  slow = await startMockUpstream({ chunks: 4, latencyMs: 800 });
  fast = await startMockUpstream({ chunks: 4 });
  const a = await fx.tg.store.channels.add({ name: 'slow', type: 'openai', baseUrl: slow.url, priority: 10, models: [{ model: 'ft', upstreamModel: 'ft' }] });
  await fx.tg.store.channels.addKey(a.id, 'sk-slow');
  slowId = a.id;
  const b = await fx.tg.store.channels.add({ name: 'fast', type: 'openai', baseUrl: fast.url, priority: 5, firstTokenTimeoutMs: 200, models: [{ model: 'ft', upstreamModel: 'ft' }] });
  await fx.tg.store.channels.addKey(b.id, 'sk-fast');
  await fx.tg.store.prices.set({ model: 'ft', channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 1_000_000, free: false });
  await fx.tg.store.users.credit(fx.userId, 10_000_000);
  const res = await admin('PATCH', `/admin/channels/${slowId}`, { first_token_timeout_ms: 200 });
  assert.equal(res.statusCode, 200);
  assert.equal(((await res.body.json()) as any).first_token_timeout_ms, 200);
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await slow.close();
  await fast.close();
});
beforeEach(() => {
  fast.setFault(null);
  slow.resetStats();
  fast.resetStats();
  for (const c of fx.tg.gateway.routes.channels) fx.tg.gateway.health.succeed(c.health);
});

function chat(id: string, stream = true) {
  return request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ model: 'ft', messages: [{ role: 'user', content: 'hi' }], max_tokens: 6, stream }),
  });
}

async function firstTokenFailovers(channel: string): Promise<number> {
  const text = (await fx.tg.gateway.metrics!.render()).body;
  const line = text.split('\n').find((l) => l.startsWith(`tollgate_first_token_failovers_total{channel="${channel}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('the admin API refuses a first-token timeout out of range', async () => {
  for (const bad of [0, -5, 600_001, 'soon']) {
    const res = await admin('PATCH', `/admin/channels/${slowId}`, { first_token_timeout_ms: bad });
    assert.equal(res.statusCode, 400, `refused: ${String(bad)}`);
    assert.equal(((await res.body.json()) as any).error.param, 'first_token_timeout_ms');
  }
});

test('a slow first byte fails over to the fast channel, cools the slow one, charges once and counts the attempts', async () => {
  const before = await firstTokenFailovers('slow');
  const res = await chat('ft-failover');
  assert.equal(res.statusCode, 200);
  const text = await res.body.text();
  assert.match(text, /data: \[DONE\]/);
  assert.equal(slow.stats.requests, 1);
  assert.equal(fast.stats.requests, 1);
  assert.equal(await firstTokenFailovers('slow'), before + 1);
  // The slow channel now cools down: it never serves while the fast one is healthy.
  for (let i = 0; i < 5; i++) {
    const again = await chat(`ft-after-${i}`);
    assert.equal(again.statusCode, 200);
    await again.body.text();
  }
  assert.equal(slow.stats.requests, 1, 'the slow channel got no further request');
  assert.equal(fast.stats.requests, 6);
  await fx.tg.accounting!.writer.flush();
  const rows = (await fx.tg.store.usage.page({ userId: fx.userId, limit: 100 })).records;
  const rec = rows.find((r) => r.requestId.startsWith('ft-failover'))!;
  assert.equal(rec.attempts, 2);
  assert.equal(rec.status, 200);
  assert.equal(rec.outcome, 'ok');
  const after = rows.find((r) => r.requestId.startsWith('ft-after-0'))!;
  assert.equal(rec.costMicros, after.costMicros, 'the failed-over request costs what a direct one does');
});

test('every channel slow: a clear 504, nothing charged', async () => {
  fast.setFault({ kind: 'latency', ms: 800 });
  const res = await chat('ft-all-slow');
  assert.equal(res.statusCode, 504);
  const body = (await res.body.json()) as any;
  assert.equal(body.error.code, 'upstream_timeout');
  assert.match(body.error.message, /sent no first byte within 200 ms/);
  assert.equal(slow.stats.requests + fast.stats.requests, 2);
  await fx.tg.accounting!.writer.flush();
  const rec = (await fx.tg.store.usage.page({ userId: fx.userId, limit: 100 })).records.find((r) => r.requestId.startsWith('ft-all-slow'))!;
  assert.equal(rec.attempts, 2);
  assert.equal(rec.errorClass, 'first_token_timeout');
  assert.equal(rec.costMicros, 0);
});

test('a whole JSON answer is not cut by the first-token timeout', async () => {
  const res = await chat('ft-json', false);
  assert.equal(res.statusCode, 200);
  assert.equal(((await res.body.json()) as any).object, 'chat.completion');
  assert.equal(slow.stats.requests, 1);
  assert.equal(fast.stats.requests, 0);
});

test('removing the timeout lets the slow channel serve streams again', async () => {
  const res = await admin('PATCH', `/admin/channels/${slowId}`, { first_token_timeout_ms: null });
  assert.equal(((await res.body.json()) as any).first_token_timeout_ms, null);
  const stream = await chat('ft-unlimited');
  assert.equal(stream.statusCode, 200);
  await stream.body.text();
  assert.equal(slow.stats.requests, 1);
  assert.equal(fast.stats.requests, 0);
});
