/**
 * The response cache across two gateways sharing one Redis (a key prefix
 * unique to the run): an answer stored by one is a hit on the other (L2), and
 * a refresh or an invalidation on one makes the other drop its own copy (L1)
 * over pub/sub.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';

const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tollgate-test-cache-${process.pid}-${Date.now()}:`;
let a: Fixture;
let b: Fixture;
let redis: Redis;

before(async () => {
  redis = new Redis(REDIS_URL);
  const env = { REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix, TOLLGATE_CACHE_ENABLED: 'true' };
  a = await startFixture(env);
  // The second gateway shares the first one's store (same SQLite file) and Redis; both serve alice's key.
  b = await startFixture({ ...env, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
});
after(async () => {
  await b.tg.close();
  await a.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const upstreamCalls = () => a.tg.mock!.stats.requests + b.tg.mock!.stats.requests;
const body = (content: string) => ({ model: 'mock-gpt', max_tokens: 8, messages: [{ role: 'user', content }] });

async function chat(fx: Fixture, content: string, mode = 'use'): Promise<{ status: string | null; text: string }> {
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.key}`, 'content-type': 'application/json', 'x-tollgate-cache': mode },
    body: JSON.stringify(body(content)),
  });
  assert.equal(r.status, 200);
  return { status: r.headers.get('x-tollgate-cache-status'), text: await r.text() };
}

/** The entry key of `content` for alice, as both gateways compute it. */
const keyOf = (content: string) => a.tg.gateway.responseCache!.keyFor('/chat/completions', a.userId, body(content));

/** The shared write is not awaited by the request: wait until the entry is in Redis. */
async function inRedis(content: string): Promise<void> {
  const key = `${prefix}cache:response:${keyOf(content)}`;
  for (let i = 0; i < 200 && (await redis.exists(key)) === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(await redis.exists(key), 1, 'the entry reached Redis');
}

async function dropped(fx: Fixture, content: string): Promise<void> {
  const entries = fx.tg.gateway.responseCache!.entries;
  for (let i = 0; i < 200 && entries.holds(keyOf(content)); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(entries.holds(keyOf(content)), false, 'the copy in memory was dropped');
}

test('an answer stored by one gateway is a hit on the other, from Redis', async () => {
  const before = upstreamCalls();
  const miss = await chat(a, 'shared across nodes');
  assert.equal(miss.status, 'miss');
  await inRedis('shared across nodes');
  const hit = await chat(b, 'shared across nodes');
  assert.equal(hit.status, 'hit');
  assert.equal(hit.text, miss.text);
  assert.equal(upstreamCalls() - before, 1);
  const ttl = await redis.pttl(`${prefix}cache:response:${keyOf('shared across nodes')}`);
  assert.ok(ttl > 0, 'the shared entry has a TTL');
});

test('a refresh on one gateway makes the other drop its copy and read the new one from Redis', async () => {
  await chat(a, 'refresh me');
  await inRedis('refresh me');
  assert.equal((await chat(b, 'refresh me')).status, 'hit');
  assert.equal(b.tg.gateway.responseCache!.entries.holds(keyOf('refresh me')), true);
  const before = upstreamCalls();
  assert.equal((await chat(a, 'refresh me', 'refresh')).status, 'refresh');
  await dropped(b, 'refresh me');
  assert.equal((await chat(b, 'refresh me')).status, 'hit');
  assert.equal(upstreamCalls() - before, 1);
});

test('an invalidation on one gateway drops the entry on both and in Redis', async () => {
  await chat(a, 'forget me');
  await inRedis('forget me');
  assert.equal((await chat(b, 'forget me')).status, 'hit');
  await a.tg.gateway.responseCache!.entries.invalidate(keyOf('forget me'));
  await dropped(b, 'forget me');
  assert.equal(await redis.exists(`${prefix}cache:response:${keyOf('forget me')}`), 0);
  const before = upstreamCalls();
  assert.equal((await chat(b, 'forget me')).status, 'miss');
  assert.equal(upstreamCalls() - before, 1);
});

test('DELETE /admin/cache purges every entry on both gateways and in Redis; it needs the admin token', async () => {
  for (const content of ['purge 1', 'purge 2']) {
    await chat(a, content);
    await inRedis(content);
    assert.equal((await chat(b, content)).status, 'hit');
  }
  const denied = await fetch(`${a.url}/admin/cache`, { method: 'DELETE' });
  assert.equal(denied.status, 401);
  await denied.text();
  const purged = await fetch(`${a.url}/admin/cache`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(purged.status, 200);
  const body = await purged.json();
  assert.equal(body.object, 'response_cache');
  assert.ok(body.purged >= 2, `purged ${body.purged}`);
  assert.deepEqual(await redis.keys(`${prefix}cache:response:*`), []);
  await dropped(b, 'purge 1');
  await dropped(b, 'purge 2');
  const before = upstreamCalls();
  assert.equal((await chat(b, 'purge 1')).status, 'miss');
  assert.equal(upstreamCalls() - before, 1);
});

test('DELETE /admin/cache on a server without the response cache is a 404 that says so', async () => {
  const plain = await startFixture({}, 'carol');
  try {
    const r = await fetch(`${plain.url}/admin/cache`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(r.status, 404);
    assert.match((await r.json()).error.message, /cache\.enabled is false/);
  } finally {
    await plain.close();
  }
});
