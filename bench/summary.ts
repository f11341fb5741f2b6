/** Percentiles of samples and the median / min–max of repeated runs. */

/** The p-th percentile (nearest rank) of ascending-sorted values; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Median and range of one figure over the alternated runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Number of runs that had a value. */
  n: number;
}

/** Median, min and max of the finite values (null entries are runs without the figure). */
export function spread(values: Array<number | null>): Spread | null {
  const finite = values.filter((value): value is number => value !== null && Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return null;
  const middle = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[middle] : (finite[middle - 1] + finite[middle]) / 2;
  return { median, min: finite[0], max: finite[finite.length - 1], n: finite.length };
}
