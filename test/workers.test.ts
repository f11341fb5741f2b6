/**
 * `serve --workers 2` as a real process: limits and balances stay exact
 * across the two event loops (the main thread holds them), an admin change
 * reaches both workers before the admin call returns, one /metrics counts
 * both, and SIGTERM drains streams open on both into the one writer. Each
 * test checks that its requests landed on both workers
 * (tollgate_worker_requests_total{worker}, or the request log's worker field).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { Redis } from 'ioredis';
import { openStore } from '../src/store/store.ts';
import { startServe } from './support/serve-process.ts';
import { useWorkersFixture, prepare, chat, admin, burst, perWorker, warmUp, stop, usage, agent } from './support/workers-fixture.ts';
import { startTestService } from './support/service-upstream.ts';
import { stringify } from 'yaml';
import { generateLinkKey } from '../src/services/hop/link-key.ts';
import { handBuiltHop } from './support/hop-request.ts';

useWorkersFixture();

test('RPM 100 across 2 workers: 1,000 concurrent requests, exactly 100 admitted; /metrics counts both workers', async (t) => {
  const p = await prepare(1_000_000_000);
  const serve = await startServe(p.env);
  try {
    await admin(serve.base, 'PUT', '/admin/limits', { scope: 'user', subject: String(p.userId), rpm: 100 });
    await warmUp(serve.base);
    const started = performance.now();
    const counts = await burst(1_000, () => chat(serve.base, p.key, 'fast'));
    const spanMs = performance.now() - started;
    // The RPM bucket refills continuously (one request per 600 ms at RPM 100, bucket-math.ts):
    // a burst that lasts under 600 ms gets exactly 100, a longer one exactly what refilled as well, never more.
    const allowed = 100 + Math.floor(spanMs / 600);
    const admitted = counts.get(200) ?? 0;
    assert.ok(admitted >= 100 && admitted <= allowed, `admitted ${admitted}, allowed ${allowed} over ${spanMs.toFixed(0)} ms: ${JSON.stringify([...counts])}`);
    assert.equal(admitted + (counts.get(429) ?? 0), 1_000, JSON.stringify([...counts]));
    t.diagnostic(`admitted ${admitted} of 1000 in a ${spanMs.toFixed(0)} ms burst`);
    const workers = await perWorker(serve.base);
    assert.ok(workers[0] > 0 && workers[1] > 0, `both workers served: ${workers}`);
    assert.equal(workers[0] + workers[1], 1_000);
    const text = await (await request(`${serve.base}/metrics`, { dispatcher: agent })).body.text();
    const total = [...text.matchAll(/^tollgate_requests_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(total, 1_000, 'the aggregated counter adds both workers');
  } finally {
    await stop(serve);
  }
});

test('a balance for exactly K requests across 2 workers: exactly K admitted, the stored balance matches the records', async () => {
  const K = 37;
  const p = await prepare(0);
  const serve = await startServe(p.env);
  try {
    // What one request holds, from the 402 the empty balance gets.
    const refused = await chat(serve.base, p.key, 'slow');
    const needed = Number(/needs up to (\d+) micro-credits/.exec(await refused.body.text())?.[1]);
    assert.equal(refused.statusCode, 402);
    assert.ok(needed > 0);
    // Credited through the admin API: the main thread's ledger follows the feed before the call returns.
    await admin(serve.base, 'POST', `/admin/users/${p.userId}/credit`, { amount_micros: K * needed });
    const before = await perWorker(serve.base);
    // The slow upstream keeps every admitted request in flight while the rest are judged.
    const counts = await burst(150, () => chat(serve.base, p.key, 'slow'));
    assert.equal(counts.get(200), K, JSON.stringify([...counts]));
    assert.equal(counts.get(402), 150 - K, JSON.stringify([...counts]));
    const after = await perWorker(serve.base);
    assert.ok(after[0] > before[0] && after[1] > before[1], `both workers served: ${before} → ${after}`);
  } finally {
    await stop(serve);
  }
  const { rows, balance } = await usage(p.dataDir);
  const charged = rows.filter((r) => r.status === 200);
  assert.equal(charged.length, K);
  const spent = rows.reduce((n, r) => n + r.costMicros, 0);
  assert.ok(spent > 0);
  const store = await openStore({ dataDir: p.dataDir });
  try {
    const credits = (await store.events.since(0, 1000)).filter((e) => e.kind === 'user.balance').reduce((n, e) => n + e.delta, 0);
    assert.equal(balance, credits - spent, 'stored balance = credits − Σ record costs');
  } finally {
    await store.close();
  }
});

test('a key revoked through the admin API is refused on every worker at once', async () => {
  const p = await prepare(1_000_000_000);
  const serve = await startServe(p.env);
  try {
    const ok = await burst(40, () => chat(serve.base, p.key, 'fast'));
    assert.equal(ok.get(200), 40);
    const before = await perWorker(serve.base);
    await admin(serve.base, 'POST', `/admin/keys/${p.keyId}/revoke`, {});
    // No waiting: the revoke returned after both workers applied it. Fresh connections reach both listeners.
    const fresh = new Agent({ connections: 64, pipelining: 1 });
    try {
      const statuses = await Promise.all(Array.from({ length: 64 }, async () => {
        const res = await request(`${serve.base}/v1/chat/completions`, {
          dispatcher: fresh, method: 'POST', reset: true,
          headers: { authorization: `Bearer ${p.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'x' }], max_tokens: 4 }),
        });
        await res.body.text();
        return res.statusCode;
      }));
      assert.deepEqual([...new Set(statuses)], [401]);
    } finally {
      await fresh.close();
    }
    const after = await perWorker(serve.base);
    assert.ok(after[0] > before[0] && after[1] > before[1], `refused on both workers: ${before} → ${after}`);
  } finally {
    await stop(serve);
  }
});

test('SIGTERM with streams open on both workers: all finish and all are recorded by the one writer', async () => {
  const p = await prepare(1_000_000_000);
  const serve = await startServe({ ...p.env, TOLLGATE_SERVER_SHUTDOWN_GRACE_MS: '10000' });
  const N = 40;
  await warmUp(serve.base);
  const streams = await Promise.all(Array.from({ length: N }, () => chat(serve.base, p.key, 'slow', true)));
  for (const s of streams) assert.equal(s.statusCode, 200);
  serve.child.kill('SIGTERM');
  const bodies = await Promise.all(streams.map((s) => s.body.text()));
  for (const b of bodies) assert.ok(b.includes('data: [DONE]'), 'each stream ran to its end');
  assert.equal(await serve.exited, 0, serve.output());
  const workers = new Set([...serve.output().matchAll(/"worker":(\d+)[^\n]*"msg":"request"/g)].map((m) => m[1]));
  assert.deepEqual([...workers].sort(), ['0', '1'], `streams were open on both workers: ${serve.output().slice(0, 3000)}`);
  const { rows } = await usage(p.dataDir);
  assert.equal(rows.length, N);
  assert.ok(rows.every((r) => r.status === 200 && r.completionTokens > 0));
});

test('with REDIS_URL the workers judge limits and credits on Redis in one call: both stay exact', async () => {
  const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `tollgate-test-workers-${process.pid}-${Date.now()}:`;
  const K = 12;
  const p = await prepare(0);
  // A Redis call that times out falls back to each worker's own memory limits (fail-open, as on
  // separate nodes): on a loaded test machine the 200 ms default can expire, so wait longer here.
  const serve = await startServe({ ...p.env, REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix, TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: '5000' });
  const redis = new Redis(REDIS_URL);
  try {
    const refused = await chat(serve.base, p.key, 'slow');
    const needed = Number(/needs up to (\d+) micro-credits/.exec(await refused.body.text())?.[1]);
    await admin(serve.base, 'POST', `/admin/users/${p.userId}/credit`, { amount_micros: K * needed });
    await admin(serve.base, 'PUT', '/admin/limits', { scope: 'model', subject: 'fast', rpm: 40 });
    await warmUp(serve.base);
    const before = await perWorker(serve.base);
    const credits = await burst(60, () => chat(serve.base, p.key, 'slow'));
    assert.equal(credits.get(200), K, JSON.stringify([...credits]));
    assert.equal(credits.get(402), 60 - K, JSON.stringify([...credits]));
    await admin(serve.base, 'POST', `/admin/users/${p.userId}/credit`, { amount_micros: 1_000_000_000 });
    const started = performance.now();
    const limited = await burst(300, () => chat(serve.base, p.key, 'fast'));
    const allowed = 40 + Math.floor((performance.now() - started) / 1_500); // RPM 40 refills one per 1.5 s
    const admitted = limited.get(200) ?? 0;
    assert.ok(admitted >= 40 && admitted <= allowed, `RPM 40 judged on Redis across both workers: ${JSON.stringify([...limited])}, allowed ${allowed}`);
    assert.equal(admitted + (limited.get(429) ?? 0), 300, JSON.stringify([...limited]));
    const after = await perWorker(serve.base);
    assert.ok(after[0] > before[0] && after[1] > before[1], `both workers served: ${before} → ${after}`);
    assert.ok((await redis.keys(`${prefix}*`)).length > 0, 'the limiter state is in Redis');
  } finally {
    await stop(serve);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

test('a hop request replayed to any worker is refused: one nonce memory for the whole server', async () => {
  const link = generateLinkKey();
  const p = await prepare(0);
  const service = await startTestService();
  const configFile = join(p.dataDir, 'tollgate.yaml');
  writeFileSync(configFile, stringify({ services: { ingress: { linkKeys: [link] } } }));
  const store = await openStore({ dataDir: p.dataDir });
  await store.services.put({ name: 'echo', targets: [{ url: service.url, weight: 1 }], timeoutMs: 5_000, remote: false });
  await store.services.allow({ service: 'echo', userId: p.userId, path: '/', methods: ['*'], rpm: null, concurrency: null, timeoutMs: null });
  await store.close();
  const serve = await startServe({ ...p.env, TOLLGATE_CONFIG: configFile });
  try {
    const path = '/svc/echo/items/1';
    const h = handBuiltHop(link, { path, body: Buffer.from('once'), caller: p.userId });
    const header = h.header;
    const wire = await h.streamed();
    // Each send on a fresh connection: 16 connections reach both workers (a per-worker memory would let one replay through).
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await request(`${serve.base}${path}`, { method: 'POST', reset: true, headers: { 'x-tollgate-hop': header, 'content-type': 'text/plain', connection: 'close' }, body: wire });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    assert.deepEqual([statuses.filter((s) => s === 200).length, statuses.filter((s) => s === 409).length], [1, 15], JSON.stringify(statuses));
    assert.equal(service.hits, 1);
  } finally {
    await stop(serve);
    await service.close();
  }
});
