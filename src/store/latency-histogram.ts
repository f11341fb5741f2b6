/**
 * Latency percentiles computed inside the database, for both dialects.
 *
 * Neither SQLite nor PostgreSQL's common subset has a percentile aggregate,
 * and fetching every record of a day to sort it in JS grows without bound.
 * Instead the query groups records into fixed bins (a log-like scale with 17
 * bins per decade above 10 ms, one bin per millisecond below), which is one
 * pass with bounded output, and the percentile is read off the bin counts.
 *
 * Precision: values below 10 ms are exact (latencies are whole ms); above,
 * a percentile lies inside a bin whose width is at most 20% of its lower
 * bound, and is estimated by spreading the bin's records evenly across it and
 * clamping to the group's observed min/max (so a group of one is exact).
 */
import { sql, type RawBuilder } from 'kysely';

/** Steps of one decade (×10ⁿ): bins never wider than 20% of their lower bound. */
const DECADE_STEPS = [12, 14, 16, 18, 20, 23, 26, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100];

/**
 * Exclusive upper bounds of the bins in ms: 1, 2, …, 10, 12, 14, …, 10,000,000
 * (about 2.8 h). Bin `i` holds [BIN_UPPER[i-1], BIN_UPPER[i]); bin
 * `BIN_UPPER.length` holds everything above.
 */
export const BIN_UPPER: readonly number[] = (() => {
  const bounds = Array.from({ length: 10 }, (_, i) => i + 1);
  for (let decade = 1; decade <= 100_000; decade *= 10) for (const s of DECADE_STEPS) bounds.push(s * decade);
  return bounds;
})();

/** Number of bins including the open-ended last one. */
export const BIN_COUNT = BIN_UPPER.length + 1;

function binTree(column: string, lo: number, hi: number): string {
  if (lo === hi) return String(lo);
  const mid = (lo + hi) >> 1;
  return `case when ${column} < ${BIN_UPPER[mid]} then ${binTree(column, lo, mid)} else ${binTree(column, mid + 1, hi)} end`;
}

/**
 * SQL giving the bin index of `column`: a nested CASE that binary-searches
 * the bounds (7 comparisons per row instead of 100+). Built from constants
 * only; `column` is one of ours, never user input.
 */
export function binExpression(column: 'latency_ms' | 'ttft_ms'): RawBuilder<number> {
  return sql<number>`${sql.raw(binTree(column, 0, BIN_UPPER.length))}`;
}

/** Summary of one group's latencies in ms (percentiles estimated as above, `avg` and `max` exact). */
export interface Distribution {
  count: number;
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Bin counts of one group plus the exact figures the sums query gives. */
export class BinCounts {
  readonly counts = new Float64Array(BIN_COUNT);
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  /** Merges another group (for totals over a whole range). */
  add(other: BinCounts): void {
    for (let i = 0; i < BIN_COUNT; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  /** Nearest-rank percentile `q` (0 < q ≤ 1), estimated within its bin. */
  percentile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.count));
    let below = 0;
    for (let bin = 0; bin < BIN_COUNT; bin++) {
      const c = this.counts[bin];
      if (c === 0 || below + c < rank) {
        below += c;
        continue;
      }
      const lo = bin === 0 ? 0 : BIN_UPPER[bin - 1];
      const hi = bin < BIN_UPPER.length ? BIN_UPPER[bin] : this.max + 1;
      // Whole-ms values in a bin one ms wide are all equal to its lower bound.
      const estimate = hi - lo <= 1 ? lo : lo + ((rank - below - 0.5) / c) * (hi - lo);
      return Math.round(Math.min(this.max, Math.max(this.min, estimate)));
    }
    return this.max;
  }

  /** The summary, or null when the group is empty. */
  distribution(): Distribution | null {
    if (this.count === 0) return null;
    return {
      count: this.count,
      avg: Math.round((this.sum / this.count) * 10) / 10,
      p50: this.percentile(0.5),
      p95: this.percentile(0.95),
      p99: this.percentile(0.99),
      max: this.max,
    };
  }
}
