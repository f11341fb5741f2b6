/**
 * How `serve --workers N` answers a worker thread that died after start-up:
 * replace it after a backoff that doubles with every recent crash (100 ms,
 * 200 ms, … capped at 5 s), or give up when crashes come too fast (a worker
 * that dies right after every start would otherwise loop forever) and let the
 * process stop, so the process supervisor sees a failure.
 */
export interface CrashBudgetOptions {
  /** Backoff before the first replacement. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  /** This many crashes within `windowMs` (any worker) stop the server. */
  readonly maxCrashes: number;
  readonly windowMs: number;
}

export const DEFAULT_CRASH_BUDGET: CrashBudgetOptions = { firstDelayMs: 100, maxDelayMs: 5_000, maxCrashes: 5, windowMs: 60_000 };

export class CrashBudget {
  readonly #options: CrashBudgetOptions;
  #crashes: number[] = [];

  constructor(options: CrashBudgetOptions = DEFAULT_CRASH_BUDGET) {
    this.#options = options;
  }

  /** Counts a crash at `now`: the delay before the replacement starts, or null when the budget is spent. */
  crashed(now: number): number | null {
    const { firstDelayMs, maxDelayMs, maxCrashes, windowMs } = this.#options;
    this.#crashes = this.#crashes.filter((t) => now - t < windowMs);
    this.#crashes.push(now);
    if (this.#crashes.length >= maxCrashes) return null;
    return Math.min(firstDelayMs * 2 ** (this.#crashes.length - 1), maxDelayMs);
  }

  /** Crashes within the window as of the last count (for the log line that gives up). */
  get recent(): number {
    return this.#crashes.length;
  }
}
