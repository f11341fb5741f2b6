/**
 * Redis Cluster, for real: 3 masters and 3 replicas started for this file
 * (test/support/redis-cluster.ts). The limiter's keys spread by user over the
 * masters, each admission stays one script call, limits stay exact across
 * gateways, the change doorbell rings through the cluster, and a master
 * failover is survived under the fail policy without counting anything twice.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { startRedisCluster, NO_CLUSTER, type RedisClusterFixture } from './support/redis-cluster.ts';
import { startFixture, ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';
import { RedisLimiter, type RedisLimiterOptions } from '../src/limiter/redis-limiter.ts';
import { ShardMap } from '../src/limiter/redis-shards.ts';
import { budgetPolicy } from '../src/limiter/budget.ts';
import { parseRedisUrl } from '../src/sync/redis-url.ts';
import { openChangeSignal } from '../src/sync/change-signal.ts';
import { policy } from './support/limiter-helpers.ts';
import keySlot from 'cluster-key-slot';

let cluster: RedisClusterFixture;
const PREFIX = `tollgate-test-${randomBytes(4).toString('hex')}:`;
const limiters: RedisLimiter[] = [];

before(async () => {
  if (NO_CLUSTER === false) cluster = await startRedisCluster();
});
after(async () => {
  for (const l of limiters) await l.close();
  await cluster?.stop();
});

function limiter(options: Partial<RedisLimiterOptions> = {}): RedisLimiter {
  // A long window: buckets refill by a negligible amount during a test, so counts are exact.
  const l = new RedisLimiter({ redis: cluster.url, keyPrefix: PREFIX, shards: 16, windowMs: 3_600_000, commandTimeoutMs: 5_000, breakerMs: 200, ...options });
  limiters.push(l);
  return l;
}

/** Script calls executed by the masters, summed (EVAL too: a node runs EVAL once, when EVALSHA meets NOSCRIPT). */
function scriptCalls(): number {
  let sum = 0;
  for (const port of cluster.masters()) {
    for (const m of cluster.cli(port, 'INFO', 'commandstats').matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)) sum += Number(m[1]);
  }
  return sum;
}

test('REDIS_URL: one server, or a cluster given by its nodes (with credentials); a bad form is named', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6379/2'), { kind: 'single', url: 'redis://127.0.0.1:6379/2' });
  assert.deepEqual(parseRedisUrl('redis+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2:7001'), {
    kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], username: 'app', password: 's@cret', tls: false,
  });
  assert.deepEqual(parseRedisUrl('rediss+cluster://[::1]:7000'), { kind: 'cluster', nodes: [{ host: '::1', port: 7000 }], tls: true });
  assert.throws(() => parseRedisUrl('http://x:1'), /must start with redis:\/\//);
  assert.throws(() => parseRedisUrl('redis+cluster://h1'), /"h1" must be host:port/);
});

test('shards: the parts of a shared limit add up to it; per-user limits are not split; tags spread evenly over the slots', () => {
  const map = new ShardMap('p:', 'rl', 16);
  let sum = 0;
  for (let s = 0; s < 16; s++) sum += map.share('global', 100, s)!;
  assert.equal(sum, 100);
  assert.equal(map.share('user', 100, 3), 100);
  assert.equal(map.share('model', null, 3), null);
  const slots = map.bases.map((b) => keySlot(`${b}x`));
  slots.forEach((slot, s) => assert.ok(slot >= (s * 16384) / 16 && slot < ((s + 1) * 16384) / 16, `shard ${s} in its range`));
  assert.deepEqual(new ShardMap('p:', 'rl', 1).bases, ['p:{rl}:'], 'one shard keeps the single-server layout');
});

test('two gateways on the cluster admit exactly the RPM limit between them, one script call per request', { skip: NO_CLUSTER }, async () => {
  const env = { REDIS_URL: cluster.url, TOLLGATE_REDIS_KEY_PREFIX: PREFIX, TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: '5000' };
  const a = await startFixture(env);
  const b = await startFixture({ ...env, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
  try {
    await a.tg.store.limits.set({ scope: 'user', subject: String(a.userId), rpm: 100, tpm: null, concurrency: null });
    await Promise.all([a.tg.sync.pollNow(), b.tg.sync.pollNow()]);
    const calls = scriptCalls();
    const started = Date.now();
    const responses = await Promise.all(Array.from({ length: 400 }, (_, i) => chat(i % 2 === 0 ? a : b, a.key)));
    const elapsed = Date.now() - started;
    const statuses = await Promise.all(responses.map(async (r) => (await r.body.text(), r.statusCode)));
    const ok = statuses.filter((s) => s === 200).length;
    // GCRA refills one request per 600 ms at RPM 100.
    assert.ok(ok >= 100 && ok <= 100 + Math.floor(elapsed / 600), `admitted ${ok} in ${elapsed} ms`);
    assert.equal(statuses.filter((s) => s === 429).length, 400 - ok);
    const admissions = scriptCalls() - calls;
    const limiterA = a.tg.gateway.limiter as RedisLimiter;
    const limiterB = b.tg.gateway.limiter as RedisLimiter;
    const flushes = limiterA.stats().flushCalls + limiterB.stats().flushCalls;
    assert.equal(admissions - flushes, 400, `one admission call per request (${flushes} settle-only flushes besides)`);
  } finally {
    await b.tg.close();
    await a.close();
  }
});

test('credits on the cluster: two gateways admit exactly what the balance pays for, and store = Redis after the writers flush', { skip: NO_CLUSTER }, async () => {
  const env = { REDIS_URL: cluster.url, TOLLGATE_REDIS_KEY_PREFIX: PREFIX, TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: '5000', TOLLGATE_REDIS_CREDIT_FAIL_POLICY: 'closed' };
  const a = await startFixture(env);
  const b = await startFixture({ ...env, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
  try {
    // Completion tokens only, fixed by max_tokens 4: every request costs exactly 12,000 µcredits.
    await a.tg.store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
    const payers = await Promise.all([1, 2, 3].map((i) => a.newUser(`payer-${i}`, 5 * 12_000)));
    await Promise.all([a.tg.sync.pollNow(), b.tg.sync.pollNow()]);
    for (const payer of payers) {
      const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i % 2 === 0 ? a : b, payer.key)));
      const statuses = await Promise.all(responses.map(async (r) => (await r.body.text(), r.statusCode)));
      assert.equal(statuses.filter((st) => st === 200).length, 5, `payer ${payer.userId}: ${statuses.join(',')}`);
      assert.equal(statuses.filter((st) => st === 402).length, 35);
    }
    await Promise.all([a.tg.accounting!.writer.flush(), b.tg.accounting!.writer.flush()]);
    for (const payer of payers) {
      assert.equal((await a.tg.store.users.balances([payer.userId])).get(payer.userId), 0, 'the store debited exactly five requests');
      const deadline = Date.now() + 5_000;
      let live = await a.tg.accounting!.credits.peek(payer.userId);
      while ((live?.balanceMicros !== 0 || live.reservedMicros !== 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20)); // commit notices reach Redis in the background
        live = await a.tg.accounting!.credits.peek(payer.userId);
      }
      assert.deepEqual(live, { balanceMicros: 0, reservedMicros: 0 }, 'Redis agrees with the store, no hold left');
    }
  } finally {
    await b.tg.close();
    await a.close();
  }
});

test('10,000 users spread over all three masters, each admission one call to one slot', { skip: NO_CLUSTER }, async () => {
  const l = limiter();
  assert.equal(await l.ready(5_000), true);
  const before = cluster.masters().map((port) => Number(cluster.cli(port, 'DBSIZE').trim()));
  for (let batch = 0; batch < 10; batch++) {
    const users = Array.from({ length: 1_000 }, (_, i) => 100_000 + batch * 1_000 + i);
    const results = await Promise.all(users.map((u) => l.admit({ policies: [policy('user', String(u), { rpm: 5 })], tokens: 0, userId: u })));
    assert.ok(results.every((r) => r.allowed));
  }
  assert.equal(l.stats().failOpen, 0, 'every decision came from the cluster');
  const perMaster = cluster.masters().map((port, i) => Number(cluster.cli(port, 'DBSIZE').trim()) - before[i]);
  const total = perMaster.reduce((x, y) => x + y, 0);
  assert.equal(total, 10_000, 'one state key per user');
  const shares = perMaster.map((k) => ((100 * k) / total).toFixed(1) + ' %').join(' / ');
  // 16 shards over 3 equal slot ranges: 5, 5 and 6 shards per master.
  for (const n of perMaster) assert.ok(n / total > 0.3 && n / total < 0.4, `per-master share ${shares}`);
  console.log(`# keys per master: ${perMaster.join(' / ')} (${shares})`);
});

test('a shared limit split over the shards never admits more than the limit', { skip: NO_CLUSTER }, async () => {
  const l = limiter();
  assert.equal(await l.ready(5_000), true);
  const global = policy('model', 'split-model', { rpm: 160 });
  const results = await Promise.all(Array.from({ length: 1_000 }, (_, i) => l.admit({ policies: [global], tokens: 0, userId: 20_000 + i })));
  // Load even over the 16 shards (ids in sequence): each admits its part of 10.
  assert.equal(results.filter((r) => r.allowed).length, 160);
  const skewed = await Promise.all(Array.from({ length: 100 }, () => l.admit({ policies: [policy('model', 'skewed-model', { rpm: 160 })], tokens: 0, userId: 16 })));
  // All load on one shard: that shard's part only (the documented bound), never more than the limit.
  assert.equal(skewed.filter((r) => r.allowed).length, 10);
});

test('spend budgets on the cluster: judged in the user shard with the limits, exact, and read back from it', { skip: NO_CLUSTER }, async () => {
  const l = limiter();
  assert.equal(await l.ready(5_000), true);
  const userId = 900_100;
  const budgets = [budgetPolicy('user', String(userId), 'day', 'calendar', 7_000), budgetPolicy('key', '55', 'hour', 'rolling', 100_000, userId)];
  const policies = [policy('user', String(userId), { rpm: 1_000 }), policy('global', '', { rpm: 16_000 })];
  const results = await Promise.all(Array.from({ length: 50 }, () => l.admit({ policies, tokens: 0, userId, budgets, micros: 1_000 })));
  assert.equal(results.filter((r) => r.allowed).length, 7, 'the day budget holds exactly 7 requests');
  assert.equal(results.filter((r) => !r.allowed && r.kind === 'budget').length, 43);
  assert.equal(l.stats().failOpen, 0, 'no CROSSSLOT: budgets, limits and settlements share the user shard');
  const usage = await l.budgetUsage(budgets);
  assert.deepEqual(usage.map((u) => u.spentMicros), [7_000, 7_000]);
});

test('the response cache on the cluster: an answer stored by one gateway is a hit on the other, and a purge empties every master', { skip: NO_CLUSTER }, async () => {
  const env = { REDIS_URL: cluster.url, TOLLGATE_REDIS_KEY_PREFIX: PREFIX, TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: '5000', TOLLGATE_CACHE_ENABLED: 'true' };
  const a = await startFixture(env);
  const b = await startFixture({ ...env, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
  try {
    const ask = async (f: Fixture, content: string) => {
      const r = await request(`${f.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.key}`, 'content-type': 'application/json', 'x-tollgate-cache': 'use' },
        body: JSON.stringify({ model: 'mock-gpt', max_tokens: 8, messages: [{ role: 'user', content }] }),
      });
      await r.body.text();
      assert.equal(r.statusCode, 200);
      return r.headers['x-tollgate-cache-status'];
    };
    // Entries of several contents land on several masters.
    const contents = Array.from({ length: 12 }, (_, i) => `cluster cache ${i}`);
    for (const c of contents) assert.equal(await ask(a, c), 'miss');
    const cacheKeys = () => cluster.masters().reduce((n, port) => n + cluster.cli(port, '--scan', '--pattern', `${PREFIX}cache:*`).split('\n').filter(Boolean).length, 0);
    for (let i = 0; i < 200 && cacheKeys() < contents.length; i++) await new Promise((r) => setTimeout(r, 10)); // the shared write is not awaited
    assert.equal(cacheKeys(), contents.length);
    for (const c of contents) assert.equal(await ask(b, c), 'hit', 'served from Redis by the other gateway');
    const purged = await fetch(`${a.url}/admin/cache`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(purged.status, 200);
    assert.ok((await purged.json()).purged >= contents.length, 'every shared entry purged');
    assert.equal(cacheKeys(), 0, 'no entry left on any master');
  } finally {
    await b.tg.close();
    await a.close();
  }
});

test('the change doorbell rings through the cluster', { skip: NO_CLUSTER }, async () => {
  const bell = openChangeSignal(cluster.url, PREFIX);
  let rung = 0;
  const heard = new Promise<void>((resolve) => void bell.subscribe(() => (rung++, resolve())));
  const other = openChangeSignal(cluster.url, PREFIX);
  // The subscription is made asynchronously: ring until it is heard.
  const started = Date.now();
  while (rung === 0 && Date.now() - started < 5_000) {
    await other.publish();
    await Promise.race([heard, new Promise((r) => setTimeout(r, 100))]);
  }
  await bell.close();
  await other.close();
  assert.ok(rung > 0, 'a publish on one node reached a subscriber connected to another');
});

test('a master failover: refused while down (fail closed), then exact again, nothing counted twice', { skip: NO_CLUSTER }, async () => {
  const l = limiter({ failPolicy: 'closed' });
  assert.equal(await l.ready(5_000), true);
  const userId = 900_007; // no other test of this file touches its keys
  const p = [policy('user', String(userId), { rpm: 30 })];
  const admit = () => l.admit({ policies: p, tokens: 0, userId });
  for (let i = 0; i < 20; i++) assert.equal((await admit()).allowed, true);
  const key = `${new ShardMap(PREFIX, 'rl', 16).bases[userId % 16]}s:u:${userId}`;
  const slot = keySlot(key);
  const owner = cluster.masters().find((port) => cluster.cli(port, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot)).trim() !== '0');
  assert.ok(owner !== undefined, 'the master holding the user shard is found');
  // Let the replica catch up (replication is asynchronous; WAIT is not used on the hot path).
  await new Promise((r) => setTimeout(r, 300));

  // Killed between two calls: a call in flight at the moment a master dies may
  // have run without its reply coming back (docs/redis-cluster.md gives that bound).
  await cluster.kill(owner!);
  let unavailable = 0;
  let allowed = 20;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await admit();
    if (r.allowed) allowed++;
    else if (r.kind === 'unavailable') unavailable++;
    else break; // the RPM limit refused: Redis judged again, after the failover
    if (Date.now() > deadline) assert.fail('no decision from Redis within 20 s of the failover');
    await new Promise((res) => setTimeout(res, 20));
  }
  await cluster.recovered(owner!);
  assert.ok(unavailable > 0, 'refused as unavailable while the master was down (fail closed)');
  assert.equal(allowed, 30, 'exactly the limit admitted across the failover: nothing lost, nothing counted twice');
});

function chat(f: Fixture, key: string) {
  return request(`${f.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
  });
}
