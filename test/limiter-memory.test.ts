import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import type { Admitted } from '../src/limiter/limiter.ts';
import { policy, admitted, refused } from './support/limiter-helpers.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('1,000 concurrent admissions against RPM 100 admit exactly 100', async () => {
  const limiter = new MemoryLimiter({ now: manualClock().now });
  const policies = [policy('user', 'u1', { rpm: 100 })];
  const results = await Promise.all(Array.from({ length: 1000 }, () => limiter.admit({ policies, tokens: 0 })));
  assert.equal(results.filter((r) => r.allowed).length, 100);
  const r = refused(results[999]);
  assert.equal(r.kind, 'rpm');
  assert.equal(r.scope, 'user');
  assert.equal(r.subject, 'u1');
  assert.equal(r.limit, 100);
  assert.equal(r.retryAfterMs, 600, 'one request drains every 60,000/100 ms');
});

test('merged judgment: a refusal by one policy consumes nothing from the others', () => {
  const clock = manualClock();
  const limiter = new MemoryLimiter({ now: clock.now });
  const user = policy('user', 'u1', { rpm: 10, tpm: 10_000, concurrency: 100 });
  const model = policy('model', 'gpt', { rpm: 5 });
  const both = [user, model];
  const outcomes = Array.from({ length: 8 }, () => limiter.admitSync({ policies: both, tokens: 100 }));
  assert.equal(outcomes.filter((o) => o.allowed).length, 5);
  const r = refused(outcomes[7]);
  assert.deepEqual([r.scope, r.subject, r.kind], ['model', 'gpt', 'rpm']);

  // The user policy alone: only the 5 admitted requests were charged to it.
  const a = admitted(limiter.admitSync({ policies: [user], tokens: 100 }));
  assert.equal(a.state.remainingRequests, 10 - 5 - 1);
  assert.equal(a.state.remainingTokens, 10_000 - 6 * 100);

  // A TPM refusal by the user leaves the model's RPM untouched.
  clock.advance(60_000);
  const big = refused(limiter.admitSync({ policies: both, tokens: 20_000 }));
  assert.equal(big.kind, 'tpm');
  assert.equal(big.retryAfterMs, 60_000, 'a request above the TPM limit can never fit');
  const m = admitted(limiter.admitSync({ policies: [model], tokens: 0 }));
  assert.equal(m.state.remainingRequests, 4);
});

test('state reports the tightest RPM and TPM policy', () => {
  const limiter = new MemoryLimiter({ now: manualClock().now });
  const a = admitted(
    limiter.admitSync({
      policies: [policy('global', '', { rpm: 1000, tpm: 500 }), policy('key', 'k1', { rpm: 3, tpm: 100_000 })],
      tokens: 50,
    }),
  );
  assert.deepEqual({ ...a.state }, {
    limitRequests: 3,
    remainingRequests: 2,
    resetRequestsMs: 20_000,
    limitTokens: 500,
    remainingTokens: 450,
    resetTokensMs: 6_000,
  });
  const none = admitted(limiter.admitSync({ policies: [policy('user', 'u', { concurrency: 5 })], tokens: 1 }));
  assert.deepEqual({ ...none.state }, { limitRequests: -1, remainingRequests: -1, resetRequestsMs: -1, limitTokens: -1, remainingTokens: -1, resetTokensMs: -1 });
});

test('TPM: admission reserves the estimate, settlement refunds or charges the difference', () => {
  const limiter = new MemoryLimiter({ now: manualClock().now });
  const policies = [policy('user', 'u1', { tpm: 10_000 })];
  const first = admitted(limiter.admitSync({ policies, tokens: 4_000 }));
  assert.equal(first.state.remainingTokens, 6_000);
  limiter.settle(first.lease, 1_000); // refund 3,000
  const second = admitted(limiter.admitSync({ policies, tokens: 500 }));
  assert.equal(second.state.remainingTokens, 10_000 - 1_000 - 500, 'the refund shows in the next state');
  limiter.settle(second.lease, 2_500); // charge 2,000 more
  limiter.settle(second.lease, 0); // second settle: ignored
  const third = admitted(limiter.admitSync({ policies, tokens: 0 }));
  assert.equal(third.state.remainingTokens, 10_000 - 1_000 - 2_500);
});

test('concurrency: released by settle, exact under 1,000 concurrent admissions', async () => {
  const limiter = new MemoryLimiter();
  const policies = [policy('key', 'k1', { concurrency: 10 })];
  const results = await Promise.all(Array.from({ length: 1000 }, () => limiter.admit({ policies, tokens: 0 })));
  const ok = results.filter((r): r is Admitted => r.allowed);
  assert.equal(ok.length, 10);
  assert.equal(refused(results[10]).kind, 'concurrency');

  limiter.settle(ok[0].lease, 0);
  limiter.settle(ok[0].lease, 0); // idempotent: frees one slot, not two
  assert.equal(limiter.admitSync({ policies, tokens: 0 }).allowed, true);
  assert.equal(limiter.admitSync({ policies, tokens: 0 }).allowed, false);
  for (const r of ok.slice(1)) limiter.settle(r.lease, 0);
  assert.equal(limiter.admitSync({ policies, tokens: 0 }).allowed, true);
});

test('the window slides: capacity returns as time passes (injected clock)', () => {
  const clock = manualClock();
  const limiter = new MemoryLimiter({ now: clock.now });
  const policies = [policy('user', 'u1', { rpm: 100 })];
  for (let i = 0; i < 100; i++) admitted(limiter.admitSync({ policies, tokens: 0 }));
  const r = refused(limiter.admitSync({ policies, tokens: 0 }));
  assert.equal(r.retryAfterMs, 600);
  assert.equal(r.state.remainingRequests, 0);
  assert.equal(r.state.resetRequestsMs, 60_000);

  clock.advance(599);
  refused(limiter.admitSync({ policies, tokens: 0 }));
  clock.advance(1);
  admitted(limiter.admitSync({ policies, tokens: 0 }));
  refused(limiter.admitSync({ policies, tokens: 0 }));

  clock.advance(60_000);
  let n = 0;
  while (limiter.admitSync({ policies, tokens: 0 }).allowed) n++;
  assert.equal(n, 100, 'a full window later the whole budget is back');
});

test('configurable window, zero limits and a clock stepping back', () => {
  const clock = manualClock();
  const limiter = new MemoryLimiter({ now: clock.now, windowMs: 1000 });
  const policies = [policy('user', 'u1', { rpm: 2 })];
  admitted(limiter.admitSync({ policies, tokens: 0 }));
  admitted(limiter.admitSync({ policies, tokens: 0 }));
  assert.equal(refused(limiter.admitSync({ policies, tokens: 0 })).retryAfterMs, 500);
  clock.advance(-10_000); // a clock step back drains nothing and breaks nothing
  refused(limiter.admitSync({ policies, tokens: 0 }));
  clock.advance(10_500);
  admitted(limiter.admitSync({ policies, tokens: 0 }));

  const blocked = refused(limiter.admitSync({ policies: [policy('model', 'm', { rpm: 0 })], tokens: 0 }));
  assert.equal(blocked.kind, 'rpm');
  assert.equal(blocked.retryAfterMs, 1000);
});

test('idle entries are evicted without losing state; the cap holds', () => {
  const clock = manualClock();
  const limiter = new MemoryLimiter({ now: clock.now, maxEntries: 50 });
  for (let i = 0; i < 200; i++) {
    const a = admitted(limiter.admitSync({ policies: [policy('user', `u${i}`, { rpm: 10 })], tokens: 0 }));
    limiter.settle(a.lease, 0);
  }
  assert.ok(limiter.stats().entries <= 50);
  assert.ok(limiter.stats().forcedEvictions > 0, 'the cap forced out busy entries');

  // A busy key survives idle sweeping while its bucket is not drained.
  const hot = [policy('user', 'hot', { rpm: 2 })];
  limiter.settle(admitted(limiter.admitSync({ policies: hot, tokens: 0 })).lease, 0);
  limiter.settle(admitted(limiter.admitSync({ policies: hot, tokens: 0 })).lease, 0);
  for (let i = 0; i < 100; i++) limiter.admitSync({ policies: [], tokens: 0 });
  refused(limiter.admitSync({ policies: hot, tokens: 0 }));
  clock.advance(60_000); // every other entry is idle now; hot drained too
  for (let i = 0; i < 100; i++) limiter.admitSync({ policies: [], tokens: 0 });
  assert.equal(limiter.stats().entries, 0, 'idle entries swept a few per admission');

  const busy = admitted(limiter.admitSync({ policies: [policy('user', 'busy', { concurrency: 1 })], tokens: 0 }));
  clock.advance(3_600_000);
  for (let i = 0; i < 100; i++) limiter.admitSync({ policies: [], tokens: 0 });
  assert.equal(limiter.stats().entries, 1, 'an entry with a request in flight is never idle');
  refused(limiter.admitSync({ policies: [policy('user', 'busy', { concurrency: 1 })], tokens: 0 }));
  limiter.settle(busy.lease, 0);
});

test('no policies: admitted with an empty state; bad options are rejected', async () => {
  const limiter = new MemoryLimiter();
  const a = admitted(await limiter.admit({ policies: [], tokens: 10 }));
  assert.equal(a.state.limitRequests, -1);
  limiter.settle(a.lease, 10);
  assert.throws(() => new MemoryLimiter({ windowMs: 0 }), RangeError);
  const many = Array.from({ length: 31 }, (_, i) => policy('user', `u${i}`, { rpm: 1 }));
  await assert.rejects(limiter.admit({ policies: many, tokens: 0 }), RangeError);
  await limiter.close();
});

test('the memory limiter is always ready and available, and never has settlements pending', async () => {
  const limiter = new MemoryLimiter({ now: manualClock().now });
  assert.equal(limiter.kind, 'memory');
  assert.equal(await limiter.ready(1), true);
  assert.equal(limiter.isAvailable(), true);
  const lease = admitted(limiter.admitSync({ policies: [policy('user', 'u1', { tpm: 1000, concurrency: 1 })], tokens: 10 })).lease;
  assert.equal(limiter.stats().pendingSettlements, 0, 'a lease in flight is not a pending settlement');
  limiter.settle(lease, 20);
  assert.equal(limiter.stats().pendingSettlements, 0, 'settled in place');
  assert.equal(limiter.stats().entries, 1);
});
