/**
 * Observability through the running gateway: secrets never reach the log,
 * one line per request, and /api/metrics percentiles match the latency the
 * mock upstream was told to add (within the stated precision); reset clears.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { createLogger, flushLogger } from '../src/observability/logger.ts';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';

const UPSTREAM_SECRET = 'sk-upstream-SECRET-7f3a9c';
const logDir = mkdtempSync(join(tmpdir(), 'tollgate-log-'));
const logFile = join(logDir, 'tollgate.log');
const logger = createLogger({ level: 'info', destination: logFile, sync: true });
let fx: Fixture;
let slow: MockUpstream;

before(async () => {
  fx = await startFixture({}, 'alice', logger);
  slow = await startMockUpstream({ latencyMs: 100 });
  const c = await fx.tg.store.channels.add({ name: 'slow', type: 'openai', baseUrl: slow.url, models: [{ model: 'slow-model', upstreamModel: 'slow-model' }] });
  await fx.tg.store.channels.addKey(c.id, UPSTREAM_SECRET);
  await fx.tg.store.prices.set({ model: 'slow-model', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await slow.close();
  rmSync(logDir, { recursive: true, force: true });
});

const post = (headers: Record<string, string>, model = 'slow-model') => request(`${fx.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
});

test('percentiles from /api/metrics match the upstream delay; reset clears them', async () => {
  await request(`${fx.url}/api/metrics/reset`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.body.text());
  for (let i = 0; i < 20; i++) {
    const r = await post({ authorization: `Bearer ${fx.key}` });
    assert.equal(r.statusCode, 200);
    await r.body.text();
  }
  const snap = (await (await request(`${fx.url}/api/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as any;
  const ch = snap.channels.slow;
  assert.equal(ch.count, 20);
  // 100 ms of upstream delay plus the gateway and loopback: at least 100 ms, and not far above.
  assert.ok(ch.latency.p50 >= 100 && ch.latency.p50 < 150, `p50 ${ch.latency.p50}`);
  // HDR percentiles report the top of their bucket (3 significant digits), so p99 may exceed max by < 0.1 %.
  assert.ok(ch.latency.p99 <= ch.latency.max * 1.001 && ch.latency.p99 >= ch.latency.p50);
  await request(`${fx.url}/api/metrics/reset`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).then((r) => r.body.text());
  const after = (await (await request(`${fx.url}/api/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as any;
  assert.equal(after.overall.count, 0);
});

test('secrets never appear in the log: client keys, upstream keys, bad keys', async () => {
  const bad = 'tg-BADKEYSECRET0000000000000000000';
  await (await post({ authorization: `Bearer ${fx.key}` })).body.text();
  await (await post({ 'x-api-key': fx.key })).body.text();
  await (await post({ authorization: `Bearer ${bad}` })).body.text();
  await (await post({ authorization: `Bearer ${fx.key}`, 'x-request-id': 'find-me-in-the-log' })).body.text();
  await flushLogger(logger);
  const log = readFileSync(logFile, 'utf8');
  assert.ok(log.includes('find-me-in-the-log'), 'request lines are logged');
  for (const secret of [fx.key, UPSTREAM_SECRET, bad, fx.key.slice(3)]) assert.ok(!log.includes(secret), `secret leaked: ${secret.slice(0, 6)}…`);
  const lines = log.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.filter((l) => l.reqId === 'find-me-in-the-log').length === 1, 'one line per request');
});
