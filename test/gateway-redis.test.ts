/**
 * Redis mode through the HTTP hot path: two gateways sharing one Redis admit
 * exactly the limit between them, with one Redis round trip per request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RedisLimiter } from '../src/limiter/redis-limiter.ts';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../src/keys/client-key.ts';
import { openStore } from '../src/store/store.ts';
import { openChangeSignal } from '../src/sync/change-signal.ts';

const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tollgate-test-${process.pid}-${Date.now()}:`;
let a: Fixture;
let b: Fixture;
let redis: Redis;

before(async () => {
  redis = new Redis(REDIS_URL);
  a = await startFixture({ REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix });
  // The second gateway shares the first one's store (same SQLite file) and Redis.
  b = await startFixture({ REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
});
after(async () => {
  await b.tg.close();
  await a.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function chat(base: string, key: string) {
  return request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
}

async function evalshaCalls(): Promise<number> {
  const info = await redis.info('commandstats');
  const m = /cmdstat_evalsha:calls=(\d+)/.exec(info);
  return m ? Number(m[1]) : 0;
}

test('two gateways sharing one Redis admit exactly the RPM limit between them', async () => {
  const store = await openStore({ dataDir: a.dataDir });
  const user = await store.users.create({ name: 'shared' });
  const key = generateClientKey();
  await store.keys.insert({ userId: user.id, name: 'k', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  await store.limits.set({ scope: 'user', subject: String(user.id), rpm: 100, tpm: null, concurrency: null });
  await store.close();
  await Promise.all([a.tg.sync.pollNow(), b.tg.sync.pollNow()]);
  const started = Date.now();
  const responses = await Promise.all(Array.from({ length: 1000 }, (_, i) => chat(i % 2 === 0 ? a.url : b.url, key)));
  const elapsed = Date.now() - started;
  await Promise.all(responses.map((r) => r.body.text()));
  const ok = responses.filter((r) => r.statusCode === 200).length;
  // GCRA: a burst of up to the limit, then one more every 60 s / 100 = 600 ms (as OpenAI's limits refill).
  assert.ok(ok >= 100 && ok <= 100 + Math.floor(elapsed / 600), `admitted ${ok} in ${elapsed} ms`);
  assert.equal(responses.filter((r) => r.statusCode === 429).length, 1000 - ok);
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  assert.match(metrics, /^tollgate_redis_available 1$/m);
  assert.match(metrics, /^tollgate_redis_pending_settlements \d+$/m);
});

test('one Redis round trip per request with every limit type active', async () => {
  const store = await openStore({ dataDir: a.dataDir });
  const user = await store.users.create({ name: 'all-limits' });
  const key = generateClientKey();
  const k = await store.keys.insert({ userId: user.id, name: 'k', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  const big = { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 10_000 };
  await store.limits.set({ scope: 'global', subject: '', ...big });
  await store.limits.set({ scope: 'user', subject: String(user.id), ...big });
  await store.limits.set({ scope: 'key', subject: String(k.id), ...big });
  await store.limits.set({ scope: 'model', subject: 'mock-gpt', ...big });
  await store.limits.set({ scope: 'user_model', subject: `${user.id}:mock-gpt`, ...big });
  await store.close();
  await a.tg.sync.pollNow();
  const limiter = a.tg.gateway.limiter as RedisLimiter;
  const counted = () => limiter.stats();
  const startCounts = counted();
  const before = await evalshaCalls();
  const n = 600;
  let sent = 0;
  let failed = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      const r = await chat(a.url, key);
      await r.body.text();
      if (r.statusCode !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await new Promise((r) => setTimeout(r, 50)); // the idle flush sends the last settlements
  const calls = (await evalshaCalls()) - before;
  const endCounts = counted();
  assert.equal(failed, 0);
  // Every script call Redis saw is one the limiter made (nothing else talks to it here) ...
  assert.equal(calls, endCounts.calls - startCounts.calls, 'script calls seen by Redis = calls made by the limiter');
  // ... and each request made exactly one: settlements ride on the next admission. The rest are
  // settle-only flushes after an idle gap (how many depends on this machine's pauses, not on the
  // code: the benchmark measures them under load).
  const admissions = (endCounts.calls - endCounts.flushCalls) - (startCounts.calls - startCounts.flushCalls);
  assert.equal(admissions, n, `admission calls for ${n} requests: ${admissions}`);
});

test('with Redis, a revocation published by another process applies at once (not at the next poll)', async () => {
  const slowPoll = await startFixture({ REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix, TOLLGATE_CHANGE_POLL_MS: '60000', TOLLGATE_DATA_DIR: a.dataDir }, 'carol');
  try {
    assert.equal((await (await chat(slowPoll.url, slowPoll.key)).body.json() as any).object, 'chat.completion');
    const store = await openStore({ dataDir: a.dataDir });
    await store.keys.revoke(slowPoll.keyId);
    await store.close();
    const signal = openChangeSignal(REDIS_URL, prefix);
    await signal.publish();
    await signal.close();
    const started = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - started < 2000) {
      const r = await chat(slowPoll.url, slowPoll.key);
      await r.body.text();
      status = r.statusCode;
    }
    assert.equal(status, 401, 'revoked within 2 s although the poll interval is 60 s');
  } finally {
    await slowPoll.tg.close();
  }
});
