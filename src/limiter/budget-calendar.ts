// Calendar periods of spend budgets in one IANA time zone: where the current
// hour, day, week (Monday first, as ISO 8601) or month starts and ends.
//
// Intl.DateTimeFormat gives the wall-clock fields of an instant in the zone;
// the reverse (wall clock -> instant) is found from the zone's offset, taken
// twice so that an instant on the other side of a DST change is corrected.
// Formatting costs microseconds, so each period's current window is cached
// and recomputed only once the clock has left it: the hot path compares two
// numbers.

import type { BudgetPeriod } from './budget.ts';

/** A half-open interval [startMs, endMs) of epoch milliseconds. */
export interface BudgetWindow {
  readonly startMs: number;
  readonly endMs: number;
}

const WEEKDAY: Readonly<Record<string, number>> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const PERIOD_INDEX: Readonly<Record<BudgetPeriod, number>> = { hour: 0, day: 1, week: 2, month: 3 };

interface WallClock { y: number; mo: number; d: number; h: number; mi: number; s: number; dow: number }

/** Throws RangeError when `timeZone` is not a zone Intl knows. */
export function checkTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone });
}

/** Calendar windows in one time zone. */
export class BudgetCalendar {
  readonly timeZone: string;
  readonly #format: Intl.DateTimeFormat;
  readonly #cache: (BudgetWindow | null)[];

  constructor(timeZone = 'UTC') {
    this.timeZone = timeZone;
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    this.#cache = [null, null, null, null];
  }

  /** The calendar period that holds `nowMs`. */
  windowAt(period: BudgetPeriod, nowMs: number): BudgetWindow {
    const i = PERIOD_INDEX[period];
    const cached = this.#cache[i];
    if (cached !== null && nowMs >= cached.startMs && nowMs < cached.endMs) return cached;
    const w = this.#compute(period, nowMs);
    this.#cache[i] = w;
    return w;
  }

  #compute(period: BudgetPeriod, now: number): BudgetWindow {
    const c = this.#wall(now);
    // Time since the start of the wall-clock hour: exact whatever the zone's
    // offset (offsets are whole minutes), also in the hour a DST change repeats.
    const intoHour = (c.mi * 60 + c.s) * 1000 + (now % 1000);
    if (period === 'hour') return { startMs: now - intoHour, endMs: now - intoHour + 3_600_000 };
    let start: number;
    let end: number;
    if (period === 'day') {
      start = this.#instant(c.y, c.mo, c.d);
      end = this.#instant(c.y, c.mo, c.d + 1);
    } else if (period === 'week') {
      start = this.#instant(c.y, c.mo, c.d - c.dow);
      end = this.#instant(c.y, c.mo, c.d - c.dow + 7);
    } else {
      start = this.#instant(c.y, c.mo, 1);
      end = this.#instant(c.y, c.mo + 1, 1);
    }
    // A zone whose midnight is skipped by DST maps it to a nearby instant;
    // keep the window holding `now` whatever happens there.
    if (start > now) start = now - intoHour - c.h * 3_600_000;
    if (end <= now) end = now + 1;
    return { startMs: start, endMs: end };
  }

  #wall(ms: number): WallClock {
    const c: WallClock = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0, dow: 0 };
    for (const p of this.#format.formatToParts(ms)) {
      switch (p.type) {
        case 'year': c.y = Number(p.value); break;
        case 'month': c.mo = Number(p.value); break;
        case 'day': c.d = Number(p.value); break;
        case 'hour': c.h = Number(p.value); break;
        case 'minute': c.mi = Number(p.value); break;
        case 'second': c.s = Number(p.value); break;
        case 'weekday': c.dow = WEEKDAY[p.value] ?? 0; break;
      }
    }
    return c;
  }

  /** Wall-clock offset of the zone at `ms` (local minus UTC), in ms. */
  #offset(ms: number): number {
    const c = this.#wall(ms);
    return Date.UTC(c.y, c.mo - 1, c.d, c.h, c.mi, c.s) - (ms - (((ms % 1000) + 1000) % 1000));
  }

  /** The instant of midnight starting day `d` of month `mo` (1-based; both may overflow, as Date.UTC allows). */
  #instant(y: number, mo: number, d: number): number {
    const wall = Date.UTC(y, mo - 1, d);
    const first = wall - this.#offset(wall);
    return wall - this.#offset(first);
  }
}
