// Spend budgets: a cap on the micro-credits a user or a key may spend per
// period. They are judged by the limiter in the same single decision as the
// RPM/TPM/concurrency limits (a budget is one more thing that must agree), so
// they are exact under concurrency the same way: per process in memory,
// across nodes with Redis.
//
// A budget counts micro-credits RESERVED by requests in flight plus the real
// cost of finished ones: admission reserves the request's credit reservation,
// settlement replaces it by what the request really cost.
//
// Two ways to cut time into periods:
//   calendar  hour, day, week (Monday first) or month as the wall clock of the
//             configured time zone sees them (budget-calendar.ts); the spend
//             restarts from 0 at each boundary.
//   rolling   the spend of the last hour / 24 h / 7 days / 30 days. Spend is
//             kept in ROLLING_SLOTS slots of period/60 each (1 min for an hour,
//             12 h for a month) and a slot leaves the sum once all of it is
//             older than the period: spend is forgotten between `period` and
//             `period + slot` after it was made, never earlier, so the cap
//             holds over every window of the period's length.

/** Who a budget caps. */
export type BudgetScope = 'user' | 'key';
/** How long a budget period is. */
export type BudgetPeriod = 'hour' | 'day' | 'week' | 'month';
/** Calendar periods restart at wall-clock boundaries; rolling periods slide. */
export type BudgetMode = 'calendar' | 'rolling';

export const BUDGET_SCOPES: readonly BudgetScope[] = ['user', 'key'];
export const BUDGET_PERIODS: readonly BudgetPeriod[] = ['hour', 'day', 'week', 'month'];
export const BUDGET_MODES: readonly BudgetMode[] = ['calendar', 'rolling'];

/** Slots of a rolling budget. */
export const ROLLING_SLOTS = 60;

const HOUR_MS = 3_600_000;
const PERIOD_MS: Readonly<Record<BudgetPeriod, number>> = { hour: HOUR_MS, day: 24 * HOUR_MS, week: 7 * 24 * HOUR_MS, month: 30 * 24 * HOUR_MS };

/** Length of a rolling period (a rolling month is 30 days). */
export function rollingPeriodMs(period: BudgetPeriod): number {
  return PERIOD_MS[period];
}

/** Length of one slot of a rolling budget: a whole number of ms for every period. */
export function rollingSlotMs(period: BudgetPeriod): number {
  return PERIOD_MS[period] / ROLLING_SLOTS;
}

/** One budget in force, as the limiter sees it. */
export interface BudgetPolicy {
  readonly scope: BudgetScope;
  /** The user id or key id. */
  readonly subject: string;
  readonly period: BudgetPeriod;
  readonly mode: BudgetMode;
  /** Micro-credits that may be spent per period. */
  readonly limitMicros: number;
  /** `${u|k}:${subject}:${period}:${mode}`: names the budget's counters (built once, not per request). */
  readonly key: string;
  /** The user the budget belongs to (the key's user for a key budget): on a sharded Redis its counters sit in that user's shard. */
  readonly userId: number | undefined;
}

/** Builds a {@link BudgetPolicy} with its counter key. `userId` defaults to the subject of a user budget. */
export function budgetPolicy(scope: BudgetScope, subject: string, period: BudgetPeriod, mode: BudgetMode, limitMicros: number, userId?: number): BudgetPolicy {
  const owner = userId ?? (scope === 'user' && /^\d+$/.test(subject) ? Number(subject) : undefined);
  return { scope, subject, period, mode, limitMicros, key: `${scope === 'user' ? 'u' : 'k'}:${subject}:${period}:${mode}`, userId: owner };
}

/** What a refusal by a budget reports beyond the common fields. */
export interface BudgetRefusal {
  readonly period: BudgetPeriod;
  readonly mode: BudgetMode;
  /** Spent and reserved in the current period when the request was judged. */
  readonly spentMicros: number;
  /** What this request would have reserved. */
  readonly requestMicros: number;
  /** Epoch ms when this request would fit: the period's end (calendar), or when enough spend has rolled out. */
  readonly resetAtMs: number;
}

/** The spend of one budget now, for the account API and the dashboard. */
export interface BudgetUsage {
  readonly spentMicros: number;
  /** Epoch ms when the current calendar period ends, or when the oldest spend rolls out (rolling; null with nothing spent). */
  readonly resetAtMs: number | null;
}
