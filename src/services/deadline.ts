/**
 * The request deadline a caller may send (`x-tollgate-deadline`, epoch
 * milliseconds). It is passed on unchanged to the next hop, so every node on
 * the way works against the same instant.
 */

/** The header name, lower-case as node:http reports it. */
export const DEADLINE_HEADER = 'x-tollgate-deadline';

/** No deadline was sent. */
export const NO_DEADLINE = 0;
/** The header is present but not a positive integer. */
export const BAD_DEADLINE = -1;

/** The deadline in epoch ms, NO_DEADLINE when absent, BAD_DEADLINE when malformed. */
export function parseDeadline(value: string | string[] | undefined): number {
  if (value === undefined) return NO_DEADLINE;
  if (typeof value !== 'string' || value.length === 0 || value.length > 16) return BAD_DEADLINE;
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : BAD_DEADLINE;
}

/**
 * The timeout of the upstream call: the route's timeout, cut to the time left
 * before the deadline. 0 or less means the deadline has passed already.
 */
export function effectiveTimeout(routeTimeoutMs: number, deadline: number, now: number): number {
  if (deadline === NO_DEADLINE) return routeTimeoutMs;
  const left = deadline - now;
  return left < routeTimeoutMs ? left : routeTimeoutMs;
}
