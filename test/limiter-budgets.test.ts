// Spend budgets in the limiter: period math with an injected clock (memory),
// exactness under concurrency and settlement at the real cost in memory and
// against the shared Redis (keys under a prefix unique to this run).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import { RedisLimiter } from '../src/limiter/redis-limiter.ts';
import { BudgetCalendar } from '../src/limiter/budget-calendar.ts';
import { budgetPolicy, type BudgetPolicy } from '../src/limiter/budget.ts';
import { refusalMessage } from '../src/limiter/refusal.ts';
import type { Limiter } from '../src/limiter/limiter.ts';
import { admitted, policy, refused } from './support/limiter-helpers.ts';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tollgate-test-${randomBytes(4).toString('hex')}:`;
const admin = new Redis(URL);
const open: Limiter[] = [];

after(async () => {
  for (const l of open) await l.close();
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length > 0) await admin.del(...keys);
  await admin.quit();
});

const at = (iso: string) => Date.parse(iso);

/** A memory limiter on a clock the test moves. */
function clocked(startIso: string, timeZone = 'UTC'): { limiter: MemoryLimiter; set: (iso: string) => void; advance: (ms: number) => void } {
  let now = at(startIso);
  const limiter = new MemoryLimiter({ now: () => now, timeZone });
  return { limiter, set: (iso) => (now = at(iso)), advance: (ms) => (now += ms) };
}

function spend(l: MemoryLimiter, budgets: readonly BudgetPolicy[], micros: number) {
  return l.admitSync({ policies: [], tokens: 0, budgets, micros });
}

test('calendar hour: full until the hour ends, then empty again; the refusal names the reset', () => {
  const { limiter, set } = clocked('2026-05-04T10:15:00Z');
  const budget = [budgetPolicy('user', '7', 'hour', 'calendar', 1_000)];
  admitted(spend(limiter, budget, 400));
  admitted(spend(limiter, budget, 600));
  set('2026-05-04T10:59:59.999Z');
  const r = refused(spend(limiter, budget, 1));
  assert.deepEqual([r.kind, r.scope, r.subject, r.limit], ['budget', 'user', '7', 1_000]);
  assert.deepEqual(r.budget, { period: 'hour', mode: 'calendar', spentMicros: 1_000, requestMicros: 1, resetAtMs: at('2026-05-04T11:00:00Z') });
  assert.equal(r.retryAfterMs, 1);
  set('2026-05-04T11:00:00Z');
  admitted(spend(limiter, budget, 1_000));
});

test('calendar day in Asia/Kolkata (UTC+5:30) turns at 18:30 UTC', () => {
  const { limiter, set } = clocked('2026-05-04T19:00:00Z', 'Asia/Kolkata');
  const budget = [budgetPolicy('key', '3', 'day', 'calendar', 5_000)];
  admitted(spend(limiter, budget, 5_000));
  set('2026-05-05T18:29:59Z');
  const r = refused(spend(limiter, budget, 10));
  assert.equal(r.budget?.resetAtMs, at('2026-05-05T18:30:00Z'));
  set('2026-05-05T18:30:00Z');
  admitted(spend(limiter, budget, 5_000));
});

test('calendar month: February ends at midnight UTC of March 1', () => {
  const { limiter, set } = clocked('2026-02-01T00:00:00Z');
  const budget = [budgetPolicy('user', '9', 'month', 'calendar', 100)];
  admitted(spend(limiter, budget, 100));
  set('2026-02-28T23:59:59Z');
  assert.equal(refused(spend(limiter, budget, 1)).budget?.resetAtMs, at('2026-03-01T00:00:00Z'));
  set('2026-03-01T00:00:00Z');
  admitted(spend(limiter, budget, 100));
});

test('calendar windows: weeks start on Monday, a DST day is 23 hours, the hour of a half-hour zone turns at :30', () => {
  const ny = new BudgetCalendar('America/New_York');
  // 2026-03-08 is the spring-forward Sunday in New York.
  assert.deepEqual(ny.windowAt('day', at('2026-03-08T12:00:00Z')), { startMs: at('2026-03-08T05:00:00Z'), endMs: at('2026-03-09T04:00:00Z') });
  assert.deepEqual(ny.windowAt('week', at('2026-03-08T12:00:00Z')), { startMs: at('2026-03-02T05:00:00Z'), endMs: at('2026-03-09T04:00:00Z') });
  const india = new BudgetCalendar('Asia/Kolkata');
  assert.deepEqual(india.windowAt('hour', at('2026-05-04T10:45:10Z')), { startMs: at('2026-05-04T10:30:00Z'), endMs: at('2026-05-04T11:30:00Z') });
  const utc = new BudgetCalendar();
  assert.deepEqual(utc.windowAt('month', at('2026-12-31T23:00:00Z')), { startMs: at('2026-12-01T00:00:00Z'), endMs: at('2027-01-01T00:00:00Z') });
});

test('rolling hour: spend rolls out a period after its one-minute slot, oldest first', () => {
  const { limiter, set } = clocked('2026-05-04T10:00:10Z');
  const budget = [budgetPolicy('user', '5', 'hour', 'rolling', 1_000)];
  admitted(spend(limiter, budget, 600));
  set('2026-05-04T10:30:00Z');
  admitted(spend(limiter, budget, 400));
  set('2026-05-04T10:59:00Z');
  const r = refused(spend(limiter, budget, 300));
  // The 600 spent in the 10:00 slot is forgotten at 11:00, not before.
  assert.deepEqual([r.budget?.mode, r.budget?.spentMicros, r.budget?.resetAtMs], ['rolling', 1_000, at('2026-05-04T11:00:00Z')]);
  set('2026-05-04T11:00:00Z');
  admitted(spend(limiter, budget, 600));
  refused(spend(limiter, budget, 1));
  // More than the limit can never fit: a whole period is the hint.
  assert.equal(refused(spend(limiter, budget, 2_000)).retryAfterMs, 3_600_000);
});

test('settlement at the real cost frees what was reserved but not spent (memory)', () => {
  const { limiter, advance } = clocked('2026-05-04T10:00:00Z');
  const budget = [budgetPolicy('user', '1', 'day', 'calendar', 1_000)];
  const a = admitted(spend(limiter, budget, 600));
  refused(spend(limiter, budget, 600));
  limiter.settle(a.lease, 0, 100);
  limiter.settle(a.lease, 0, 600); // a second settle is ignored
  advance(1);
  admitted(spend(limiter, budget, 600));
  assert.equal(refused(spend(limiter, budget, 301)).budget?.spentMicros, 700);
});

test('a budget refusal consumes nothing from the rate limits, and wins over them', () => {
  const { limiter } = clocked('2026-05-04T10:00:00Z');
  const budget = [budgetPolicy('user', '2', 'day', 'calendar', 100)];
  const rpm = [policy('user', '2', { rpm: 2 })];
  refused(limiter.admitSync({ policies: rpm, tokens: 0, budgets: budget, micros: 101 }));
  admitted(limiter.admitSync({ policies: rpm, tokens: 0, budgets: budget, micros: 50 }));
  admitted(limiter.admitSync({ policies: rpm, tokens: 0, budgets: budget, micros: 50 }));
  const r = refused(limiter.admitSync({ policies: rpm, tokens: 0, budgets: budget, micros: 50 }));
  assert.equal(r.kind, 'budget', 'both refuse: the budget is what the caller must hear');
});

test('the 402 message names scope, period, limit, spend and reset', () => {
  const { limiter } = clocked('2026-05-04T22:00:00Z');
  const budget = [budgetPolicy('key', '4', 'day', 'calendar', 2_000_000)];
  admitted(spend(limiter, budget, 1_500_000));
  const r = refused(spend(limiter, budget, 600_000));
  assert.equal(
    refusalMessage(r, { userName: 'alice', keyName: 'ci' }),
    "Spend budget reached for key 'ci' of user 'alice', day (calendar): Limit 2000000 micro-credits, spent 1500000 (requests in flight included); " +
      'this request needs up to 600000. The budget resets at 2026-05-05T00:00:00.000Z (in 2h0m0s).',
  );
});

test('memory: a day budget for exactly 7 requests admits exactly 7 of 200 concurrent ones', async () => {
  const limiter = new MemoryLimiter();
  const budget = [budgetPolicy('user', 'k7', 'day', 'calendar', 7 * 1_234)];
  const results = await Promise.all(Array.from({ length: 200 }, () => limiter.admit({ policies: [], tokens: 0, budgets: budget, micros: 1_234 })));
  assert.equal(results.filter((r) => r.allowed).length, 7);
});

function redisLimiter(): RedisLimiter {
  const l = new RedisLimiter({ redis: URL, keyPrefix: PREFIX, commandTimeoutMs: 5000, breakerMs: 0, timeZone: 'Europe/Paris' });
  open.push(l);
  return l;
}

test('Redis: two instances admit exactly 7 of 200 concurrent requests against a day budget for 7', async () => {
  const a = redisLimiter();
  const b = redisLimiter();
  assert.equal(await a.ready(), true);
  assert.equal(await b.ready(), true);
  const budget = [budgetPolicy('user', 'k7', 'day', 'calendar', 7 * 1_234), budgetPolicy('key', 'k7', 'hour', 'rolling', 10 * 1_234)];
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).admit({ policies: [], tokens: 0, budgets: budget, micros: 1_234 })));
  assert.equal(results.filter((r) => r.allowed).length, 7);
  assert.equal(a.stats().failOpen + b.stats().failOpen, 0, 'every decision came from Redis');
  const r = refused(results.find((x) => !x.allowed)!);
  assert.equal(r.kind, 'budget');
  assert.equal(r.budget?.spentMicros, 7 * 1_234);
  // The next Paris midnight.
  const reset = new BudgetCalendar('Europe/Paris').windowAt('day', Date.now()).endMs;
  assert.ok(Math.abs((r.budget?.resetAtMs ?? 0) - reset) < 5_000);
  assert.deepEqual((await a.budgetUsage(budget)).map((u) => u.spentMicros), [7 * 1_234, 7 * 1_234]);
});

test('Redis: settlement at the real cost rides on the next call and frees the budget, rolling and calendar', async () => {
  const l = redisLimiter();
  const budget = [budgetPolicy('user', 'settle', 'week', 'calendar', 1_000), budgetPolicy('key', 'settle', 'day', 'rolling', 1_000)];
  const first = admitted(await l.admit({ policies: [policy('user', 'settle', { rpm: 100 })], tokens: 0, budgets: budget, micros: 900 }));
  refused(await l.admit({ policies: [], tokens: 0, budgets: budget, micros: 200 }));
  l.settle(first.lease, 0, 150);
  assert.equal(l.stats().pendingSettlements, 1);
  // Carried by this admission, applied before it is judged.
  admitted(await l.admit({ policies: [], tokens: 0, budgets: budget, micros: 800 }));
  const r = refused(await l.admit({ policies: [], tokens: 0, budgets: budget, micros: 51 }));
  assert.equal(r.budget?.spentMicros, 950);
  assert.equal(r.retryAfterMs <= 86_400_000 && r.retryAfterMs > 0, true);
  // A settle-only flush carries budget settlements too.
  const usage = await l.budgetUsage(budget);
  assert.deepEqual(usage.map((u) => u.spentMicros), [950, 950]);
  assert.ok(usage[1].resetAtMs !== null && usage[1].resetAtMs > Date.now());
});

test('Redis: a settle-only flush applies budget refunds', async () => {
  const l = redisLimiter();
  const budget = [budgetPolicy('user', 'flush', 'month', 'calendar', 1_000)];
  const a = admitted(await l.admit({ policies: [], tokens: 0, budgets: budget, micros: 1_000 }));
  l.settle(a.lease, 0, 0);
  await l.flush();
  assert.equal(l.stats().pendingSettlements, 0);
  assert.deepEqual((await l.budgetUsage(budget)).map((u) => u.spentMicros), [0]);
  admitted(await l.admit({ policies: [], tokens: 0, budgets: budget, micros: 1_000 }));
});
