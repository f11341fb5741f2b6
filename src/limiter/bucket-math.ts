// Integer GCRA (a leaky bucket with burst = limit) shared by both backends;
// the Redis script mirrors these formulas line for line.
//
// A limit of L per window W is a bucket of capacity L*W "unit-ms" that drains
// L unit-ms per millisecond. A request of cost c adds c*W. It fits while
// level + c*W <= L*W, so a burst of exactly L is admitted from empty and the
// bucket is empty again W ms after the last charge: the window slides
// continuously instead of resetting at minute boundaries.
//
// Why integers and not GCRA's usual "theoretical arrival time" in float ms:
// with T = W/L (e.g. 60000/7) rounding makes the L-th request of a burst
// fail or the (L+1)-th pass. Every quantity here is an integer below 2^53
// (L*W <= 9e15 means L up to 1.5e11 per minute), so the comparisons are exact.
// Time is integer milliseconds; a clock that steps back drains nothing.

/** The bucket level at `now`, after draining since `at`. */
export function drainedLevel(level: number, at: number, now: number, limit: number): number {
  if (level <= 0) return 0;
  const elapsed = now - at;
  if (elapsed <= 0) return level;
  const left = level - elapsed * limit;
  return left > 0 ? left : 0;
}

/** Milliseconds until a charge of `cost` fits, 0 if it fits now, `windowMs` if it never can. */
export function retryAfterMs(level: number, cost: number, limit: number, windowMs: number): number {
  const over = level + cost * windowMs - limit * windowMs;
  if (over <= 0) return 0;
  if (cost > limit || limit <= 0) return windowMs;
  return Math.ceil(over / limit);
}

/** Whole units (requests or tokens) still available, never negative. */
export function remainingUnits(level: number, limit: number, windowMs: number): number {
  const free = limit * windowMs - level;
  return free > 0 ? Math.floor(free / windowMs) : 0;
}

/** Milliseconds until the bucket is empty (the budget is full again). */
export function resetMs(level: number, limit: number): number {
  return limit > 0 ? Math.ceil(level / limit) : 0;
}
