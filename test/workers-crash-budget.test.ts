/** The backoff and the give-up rule for replacing crashed workers (serve --workers N). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CrashBudget } from '../src/workers/crash-budget.ts';

test('the backoff doubles with every crash in the window, capped, and the 5th crash within 60 s gives up', () => {
  const budget = new CrashBudget();
  assert.deepEqual([0, 1_000, 2_000, 3_000].map((t) => budget.crashed(t)), [100, 200, 400, 800]);
  assert.equal(budget.crashed(4_000), null);
  assert.equal(budget.recent, 5);
});

test('crashes older than the window no longer count: a worker crashing now and then is replaced each time', () => {
  const budget = new CrashBudget();
  for (let i = 0; i < 20; i++) assert.equal(budget.crashed(i * 61_000), 100, `crash ${i}`);
  const capped = new CrashBudget({ firstDelayMs: 100, maxDelayMs: 300, maxCrashes: 10, windowMs: 60_000 });
  assert.deepEqual([0, 1, 2, 3, 4].map((t) => capped.crashed(t)), [100, 200, 300, 300, 300]);
});
