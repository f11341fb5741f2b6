// The memory limiter's budget counters (budget.ts explains the two modes).
// Hand-written because it is limiter accounting on the hot path: a few
// integer additions per budget per request, no allocation but the hold.
//
// A calendar tally is one counter and the start of the period it counts;
// a rolling tally is a ring of ROLLING_SLOTS slot counters:
//
//      oldest live slot             head (slot of the last advance)
//            v                         v
//   slots: [ s(h-59) ... s(h-1)      s(h) ]   (index = slot number % 60)
//   spent = sum of the live slots
//
// Advancing to slot c clears the slots h+1..c (at most 60) from the sum.
// A hold remembers which period (calendar start or slot number) it charged:
// its settlement corrects that period if it is still counted, and is dropped
// once it is not (the period is over, the spend no longer matters).

import { ROLLING_SLOTS, rollingPeriodMs, rollingSlotMs, type BudgetPolicy, type BudgetRefusal, type BudgetUsage } from './budget.ts';
import type { BudgetCalendar } from './budget-calendar.ts';

class Tally {
  /** 0 for a calendar tally. */
  readonly slotMs: number;
  readonly slots: number[];
  /** Calendar: start of the counted period; rolling: newest slot number. */
  head: number;
  /** Calendar: end of the counted period. */
  end: number;
  spent: number;

  constructor(slotMs: number) {
    this.slotMs = slotMs;
    this.slots = slotMs === 0 ? [] : new Array<number>(ROLLING_SLOTS).fill(0);
    this.head = -1;
    this.end = 0;
    this.spent = 0;
  }
}

/** What an admission charged to budgets; settled once. */
export class BudgetHold {
  readonly tallies: Tally[];
  /** Per tally: the calendar period start or the slot number charged. */
  readonly marks: number[];
  readonly micros: number;

  constructor(tallies: Tally[], marks: number[], micros: number) {
    this.tallies = tallies;
    this.marks = marks;
    this.micros = micros;
  }
}

/** Budget counters of one process. Entries are one per budget ever judged: bounded by the budgets configured. */
export class BudgetTallies {
  readonly #calendar: BudgetCalendar;
  readonly #tallies = new Map<string, Tally>();
  /** Tallies of the admission in progress; reused because admissions never interleave. */
  readonly #picked: Tally[] = [];

  constructor(calendar: BudgetCalendar) {
    this.#calendar = calendar;
  }

  /** Brings every budget's counter to `now`; returns the index of the first that `micros` does not fit, or -1. */
  judge(budgets: readonly BudgetPolicy[], micros: number, now: number): number {
    let refused = -1;
    for (let i = 0; i < budgets.length; i++) {
      const t = this.#advance(budgets[i], now);
      this.#picked[i] = t;
      if (refused < 0 && t.spent + micros > budgets[i].limitMicros) refused = i;
    }
    return refused;
  }

  /** The refusal of budget `i` of the last `judge`. */
  refusal(budget: BudgetPolicy, i: number, micros: number, now: number): BudgetRefusal {
    const t = this.#picked[i];
    return { period: budget.period, mode: budget.mode, spentMicros: t.spent, requestMicros: micros, resetAtMs: fitsAt(t, budget, micros, now) };
  }

  /** Charges `micros` to every budget of the last `judge`. */
  charge(n: number, micros: number): BudgetHold {
    const tallies = new Array<Tally>(n);
    const marks = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const t = this.#picked[i];
      t.spent += micros;
      if (t.slotMs !== 0) t.slots[t.head % ROLLING_SLOTS] += micros;
      tallies[i] = t;
      marks[i] = t.head;
    }
    return new BudgetHold(tallies, marks, micros);
  }

  /** Replaces the hold's reservation by the real cost where its period is still counted. */
  settle(hold: BudgetHold, actualMicros: number): void {
    const delta = actualMicros - hold.micros;
    if (delta === 0) return;
    for (let i = 0; i < hold.tallies.length; i++) {
      const t = hold.tallies[i];
      const mark = hold.marks[i];
      if (t.slotMs === 0) {
        if (t.head === mark) t.spent = Math.max(0, t.spent + delta);
      } else if (mark > t.head - ROLLING_SLOTS) {
        const at = mark % ROLLING_SLOTS;
        const next = Math.max(0, t.slots[at] + delta);
        t.spent += next - t.slots[at];
        t.slots[at] = next;
      }
    }
  }

  /** A budget's spend now. */
  usage(budget: BudgetPolicy, now: number): BudgetUsage {
    const t = this.#advance(budget, now);
    if (t.slotMs === 0) return { spentMicros: t.spent, resetAtMs: t.end };
    return { spentMicros: t.spent, resetAtMs: t.spent === 0 ? null : fitsAt(t, budget, 0, now, true) };
  }

  #advance(b: BudgetPolicy, now: number): Tally {
    let t = this.#tallies.get(b.key);
    if (t === undefined) {
      t = new Tally(b.mode === 'rolling' ? rollingSlotMs(b.period) : 0);
      this.#tallies.set(b.key, t);
    }
    if (t.slotMs === 0) {
      if (now < t.head || now >= t.end) {
        const w = this.#calendar.windowAt(b.period, now);
        if (w.startMs !== t.head) {
          t.head = w.startMs;
          t.spent = 0;
        }
        t.end = w.endMs;
      }
      return t;
    }
    const cur = Math.floor(now / t.slotMs);
    if (cur > t.head) {
      const steps = Math.min(cur - t.head, ROLLING_SLOTS);
      for (let k = 1; k <= steps; k++) {
        const at = (t.head + k) % ROLLING_SLOTS;
        t.spent -= t.slots[at];
        t.slots[at] = 0;
      }
      t.head = cur;
    }
    return t;
  }
}

/**
 * Epoch ms when `micros` more fits the budget: the period's end for a
 * calendar budget; for a rolling one, when enough of the oldest slots have
 * rolled out (a period from now if it can never fit). With `oldest`, simply
 * when the oldest spend rolls out.
 */
function fitsAt(t: Tally, b: BudgetPolicy, micros: number, now: number, oldest = false): number {
  if (t.slotMs === 0) return t.end;
  if (micros > b.limitMicros) return now + rollingPeriodMs(b.period);
  let freed = 0;
  for (let k = Math.max(0, t.head - ROLLING_SLOTS + 1); k <= t.head; k++) {
    const v = t.slots[k % ROLLING_SLOTS];
    freed += v;
    if (oldest ? v > 0 : t.spent - freed + micros <= b.limitMicros) return (k + ROLLING_SLOTS) * t.slotMs;
  }
  return (t.head + ROLLING_SLOTS) * t.slotMs;
}
