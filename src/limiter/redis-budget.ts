// The Redis limiter's side of spend budgets: the KEYS and ARGV of the budget
// section of the script call (calling convention in budget-script.ts), and
// what a lease keeps so that its settlement can ride on a later call.
//
// Keys: `<base>b:<budget key>:<period start>` for a calendar budget (a new
// period is a new key, so nothing resets anything) and `<base>b:<budget key>`
// for a rolling one. They share the limiter's hash tag (one cluster slot).

import type { RedisClient } from '../sync/redis-client.ts';
import { ROLLING_SLOTS, rollingSlotMs, type BudgetPolicy, type BudgetRefusal, type BudgetUsage } from './budget.ts';
import type { BudgetCalendar } from './budget-calendar.ts';

/** What an admission held against budgets in Redis. */
export class RedisBudgetHold {
  readonly keys: string[];
  /** Per budget: '' (calendar) or the rolling slot number charged. */
  readonly fields: string[];
  readonly micros: number;
  /** Micro-credits to charge (positive) or refund (negative) at settlement; 0 once sent. */
  delta: number;

  constructor(keys: string[], fields: string[], micros: number) {
    this.keys = keys;
    this.fields = fields;
    this.micros = micros;
    this.delta = 0;
  }
}

/**
 * Appends the budget KEYS to `args` — the request's budgets into `keys` too,
 * then the carried leases' budget settlements (zeroing their deltas: each is
 * sent at most once) — and returns the budget ARGV to append after the
 * limiter's own. `budgets` may be empty (a settle-only call).
 */
export function appendBudgets(
  args: (string | number)[],
  base: string,
  calendar: BudgetCalendar,
  budgets: readonly BudgetPolicy[],
  micros: number,
  keys: string[],
  carried: readonly { readonly budget: RedisBudgetHold | null }[] | null,
): readonly (string | number)[] {
  // Nothing to say: the section is left out (the script reads absent counts as 0).
  if (budgets.length === 0 && !carriesBudget(carried)) return NO_ARGS;
  const argv: (string | number)[] = [budgets.length, 0, micros];
  for (let i = 0; i < budgets.length; i++) {
    const b = budgets[i];
    if (b.mode === 'calendar') {
      const w = calendar.windowAt(b.period, Date.now());
      keys[i] = `${base}b:${b.key}:${w.startMs}`;
      argv.push(b.limitMicros, 0, w.endMs);
    } else {
      keys[i] = `${base}b:${b.key}`;
      argv.push(b.limitMicros, rollingSlotMs(b.period), ROLLING_SLOTS);
    }
    args.push(keys[i]);
  }
  if (carried === null) return argv;
  let settlements = 0;
  for (const lease of carried) {
    const hold = lease.budget;
    if (hold === null || hold.delta === 0) continue;
    for (let i = 0; i < hold.keys.length; i++) {
      args.push(hold.keys[i]);
      argv.push(hold.fields[i], hold.delta);
      settlements++;
    }
    hold.delta = 0;
  }
  argv[1] = settlements;
  return argv;
}

const NO_ARGS: readonly (string | number)[] = Object.freeze([]);

function carriesBudget(carried: readonly { readonly budget: RedisBudgetHold | null }[] | null): boolean {
  if (carried === null) return false;
  for (const lease of carried) if (lease.budget !== null && lease.budget.delta !== 0) return true;
  return false;
}

/** The hold of an admitted request: rolling fields are slot numbers at the script's clock `serverNow`. */
export function budgetHold(budgets: readonly BudgetPolicy[], keys: string[], micros: number, serverNow: number): RedisBudgetHold {
  const fields = budgets.map((b) => (b.mode === 'calendar' ? '' : String(Math.floor(serverNow / rollingSlotMs(b.period)))));
  return new RedisBudgetHold(keys, fields, micros);
}

/**
 * The refusal of budget `b` from the script's reply (14: budgetSpent, 13: retryMs):
 * a calendar period ends where this node's calendar says, a rolling one when the script said.
 */
export function budgetRefusal(b: BudgetPolicy, micros: number, reply: readonly number[], calendar: BudgetCalendar): BudgetRefusal {
  const now = Date.now();
  const resetAtMs = b.mode === 'calendar' ? calendar.windowAt(b.period, now).endMs : now + reply[12];
  return { period: b.period, mode: b.mode, spentMicros: reply[13], requestMicros: micros, resetAtMs };
}

/**
 * Spend of each budget as Redis holds it now (for the account API and the
 * dashboard; not on the hot path). `baseOf` gives the key base of a budget's
 * shard. One read per budget, sent together but not as a pipeline: on a
 * cluster the budgets of different users live on different masters.
 */
export async function readBudgetUsage(redis: RedisClient, baseOf: (b: BudgetPolicy) => string, calendar: BudgetCalendar, budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]> {
  const now = Date.now();
  const windows = budgets.map((b) => (b.mode === 'rolling' ? null : calendar.windowAt(b.period, now)));
  const values = await Promise.all(budgets.map((b, i) => {
    const w = windows[i];
    return w === null ? redis.hgetall(`${baseOf(b)}b:${b.key}`) : redis.get(`${baseOf(b)}b:${b.key}:${w.startMs}`);
  }));
  return budgets.map((b, i) => {
    const value = values[i];
    const w = windows[i];
    if (w !== null) return { spentMicros: Number(value ?? 0), resetAtMs: w.endMs };
    const slotMs = rollingSlotMs(b.period);
    const oldest = Math.floor(now / slotMs) - ROLLING_SLOTS + 1;
    let spent = 0;
    let first = Infinity;
    for (const [field, amount] of Object.entries((value ?? {}) as Record<string, string>)) {
      const slot = Number(field);
      if (slot < oldest || Number(amount) === 0) continue;
      spent += Number(amount);
      if (slot < first) first = slot;
    }
    return { spentMicros: spent, resetAtMs: spent === 0 ? null : (first + ROLLING_SLOTS) * slotMs };
  });
}
