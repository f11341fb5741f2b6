// RedisLimiter against the shared Redis on 127.0.0.1:6379. Every key of this
// run lives under a unique prefix, deleted at the end.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisLimiter, type RedisLimiterOptions } from '../src/limiter/redis-limiter.ts';
import { MemoryLease } from '../src/limiter/memory-limiter.ts';
import type { Admission, Admitted } from '../src/limiter/limiter.ts';
import { policy, admitted, refused } from './support/limiter-helpers.ts';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tollgate-test-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(URL);
const open: RedisLimiter[] = [];

function limiter(options: Partial<RedisLimiterOptions> = {}): RedisLimiter {
  // A generous timeout: this machine is shared, and a timeout would fail open.
  const l = new RedisLimiter({ redis: URL, keyPrefix: PREFIX, commandTimeoutMs: 5000, breakerMs: 0, ...options });
  open.push(l);
  return l;
}

after(async () => {
  for (const l of open) await l.close();
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

test('1,000 concurrent admissions against RPM 100 admit exactly 100 (Redis)', async () => {
  const l = limiter();
  assert.equal(await l.ready(), true);
  const policies = [policy('user', 'exact', { rpm: 100 })];
  const results = await Promise.all(Array.from({ length: 1000 }, () => l.admit({ policies, tokens: 0 })));
  assert.equal(results.filter((r) => r.allowed).length, 100);
  const r = refused(results[999]);
  assert.deepEqual([r.kind, r.scope, r.subject, r.limit], ['rpm', 'user', 'exact', 100]);
  assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 600);
  assert.equal(l.stats().failOpen, 0, 'every decision came from Redis');
});

test('two instances with their own connections admit exactly 100 between them', async () => {
  const a = limiter();
  const b = limiter({ poolSize: 2 });
  assert.equal(await a.ready(), true);
  assert.equal(await b.ready(), true);
  const policies = [policy('global', '', { rpm: 100 }), policy('model', 'shared', { tpm: 1_000_000 })];
  const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? a : b).admit({ policies, tokens: 10 })));
  assert.equal(results.filter((r) => r.allowed).length, 100);
  assert.equal(a.stats().failOpen + b.stats().failOpen, 0);
});

test('merged judgment: a refusal by one policy consumes nothing from the others (Redis)', async () => {
  const l = limiter();
  const user = policy('user', 'merged', { rpm: 10, tpm: 10_000, concurrency: 100 });
  const model = policy('model', 'merged-model', { rpm: 5 });
  const outcomes: Admission[] = [];
  for (let i = 0; i < 8; i++) outcomes.push(await l.admit({ policies: [user, model], tokens: 100 }));
  assert.equal(outcomes.filter((o) => o.allowed).length, 5);
  const r = refused(outcomes[7]);
  assert.deepEqual([r.scope, r.subject, r.kind], ['model', 'merged-model', 'rpm']);
  const alone = admitted(await l.admit({ policies: [user], tokens: 100 }));
  assert.equal(alone.state.remainingRequests, 10 - 5 - 1);
  // Real time drains the TPM bucket a little (10,000/min = 1 token per 6 ms).
  assert.ok(alone.state.remainingTokens >= 10_000 - 6 * 100 && alone.state.remainingTokens < 10_000 - 5 * 100);
  const tooBig = refused(await l.admit({ policies: [user, model], tokens: 50_000 }));
  assert.equal(tooBig.kind, 'tpm');
});

test('TPM: settlement refunds the reservation, visible in the next state (Redis)', async () => {
  const l = limiter();
  const policies = [policy('key', 'tpm', { tpm: 10_000 })];
  const first = admitted(await l.admit({ policies, tokens: 4_000 }));
  assert.equal(first.state.limitTokens, 10_000);
  assert.ok(first.state.remainingTokens <= 6_000 && first.state.remainingTokens >= 5_999);
  l.settle(first.lease, 1_000);
  const second = admitted(await l.admit({ policies, tokens: 500 }));
  // The refund rode on this call; drain since then can only add a little.
  assert.ok(second.state.remainingTokens >= 10_000 - 1_000 - 500, `remaining ${second.state.remainingTokens}`);
  l.settle(second.lease, 2_500);
  l.settle(second.lease, 9_999); // ignored
  const third = admitted(await l.admit({ policies, tokens: 0 }));
  assert.ok(third.state.remainingTokens >= 10_000 - 1_000 - 2_500 && third.state.remainingTokens < 10_000 - 1_000 - 500);
});

test('concurrency: exact under 1,000 concurrent admissions, released by settle (Redis)', async () => {
  const l = limiter();
  const policies = [policy('user_model', '42:gpt', { concurrency: 10 })];
  const results = await Promise.all(Array.from({ length: 1000 }, () => l.admit({ policies, tokens: 0 })));
  const ok = results.filter((r): r is Admitted => r.allowed);
  assert.equal(ok.length, 10);
  assert.equal(refused(results[10]).kind, 'concurrency');
  l.settle(ok[0].lease, 0);
  l.settle(ok[0].lease, 0);
  admitted(await l.admit({ policies, tokens: 0 }));
  refused(await l.admit({ policies, tokens: 0 }));
  for (const r of ok.slice(1)) l.settle(r.lease, 0);
  await l.flush();
  assert.equal(l.stats().pendingSettlements, 0);
  admitted(await l.admit({ policies, tokens: 0 }));
});

test('the window slides: admitted again once a (1 s) window has passed (Redis)', async () => {
  const l = limiter({ windowMs: 1000 });
  const policies = [policy('user', 'slide', { rpm: 5 })];
  for (let i = 0; i < 5; i++) admitted(await l.admit({ policies, tokens: 0 }));
  const r = refused(await l.admit({ policies, tokens: 0 }));
  assert.ok(r.retryAfterMs > 0 && r.retryAfterMs <= 200);
  await sleep(1100);
  let n = 0;
  while ((await l.admit({ policies, tokens: 0 })).allowed) n++;
  assert.equal(n, 5, 'the whole budget is back one window later');
});

test("a crashed node's concurrency leases expire after the lease TTL", async () => {
  const crashed = limiter({ leaseTtlMs: 300 });
  const survivor = limiter({ leaseTtlMs: 300 });
  const policies = [policy('key', 'lease-ttl', { concurrency: 1 })];
  admitted(await crashed.admit({ policies, tokens: 0 })); // never settled
  refused(await survivor.admit({ policies, tokens: 0 }));
  await sleep(400);
  admitted(await survivor.admit({ policies, tokens: 0 }));
});

test('keys are namespaced under the prefix with one hash tag', async () => {
  const keys = await admin.keys(`${PREFIX}*`);
  assert.ok(keys.length > 0);
  for (const k of keys) assert.match(k, new RegExp(`^${PREFIX}\\{rl\\}:[sc]:(g|u|k|m|um):`));
});

test('no reachable Redis: fail open admits via the fallback, fail closed refuses as unavailable', async () => {
  const dead = 'redis://127.0.0.1:1'; // nothing listens on port 1
  const errors: Error[] = [];
  const openL = limiter({ redis: dead, failPolicy: 'open', onError: (e) => errors.push(e) });
  const closedL = limiter({ redis: dead, failPolicy: 'closed' });
  const policies = [policy('user', 'down', { rpm: 2, concurrency: 5 })];
  const a = admitted(await openL.admit({ policies, tokens: 0 }));
  assert.ok(a.lease instanceof MemoryLease);
  openL.settle(a.lease, 0); // routed to the fallback
  admitted(await openL.admit({ policies, tokens: 0 }));
  refused(await openL.admit({ policies, tokens: 0 })); // the fallback enforces the limit itself
  assert.equal(openL.stats().failOpen, 3);
  const c = refused(await closedL.admit({ policies, tokens: 0 }));
  assert.equal(c.kind, 'unavailable');
  assert.equal(closedL.stats().failClosed, 1);
  assert.equal(openL.isAvailable(), false);
  for (let i = 0; i < 100 && errors.length === 0; i++) await sleep(20);
  assert.ok(errors.length > 0, 'connection errors are reported');
});
