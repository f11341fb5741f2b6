// OpenAI's rate-limit response headers, written from a RateLimitState.
//
// OpenAI reports resets as Go durations ("1s", "6m0s", "20ms", "1.5s");
// clients such as the official SDKs parse that shape, so it is kept.

import type { ServerResponse } from 'node:http';
import type { RateLimitState } from './limiter.ts';

/** Header names, precomputed once. */
export const RATE_LIMIT_HEADER = {
  limitRequests: 'x-ratelimit-limit-requests',
  remainingRequests: 'x-ratelimit-remaining-requests',
  resetRequests: 'x-ratelimit-reset-requests',
  limitTokens: 'x-ratelimit-limit-tokens',
  remainingTokens: 'x-ratelimit-remaining-tokens',
  resetTokens: 'x-ratelimit-reset-tokens',
  retryAfter: 'retry-after',
} as const;

/** Formats milliseconds as OpenAI does: "0s", "20ms", "1s", "1.5s", "6m0s", "1h2m3.5s". */
export function formatResetDuration(ms: number): string {
  const total = ms > 0 ? Math.ceil(ms) : 0;
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1000;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${seconds}s`;
}

/** Retry-After value in whole seconds, at least 1 (RFC 9110 §10.2.3 allows no fractions). */
export function retryAfterSeconds(ms: number): number {
  const s = Math.ceil(ms / 1000);
  return s > 1 ? s : 1;
}

/**
 * The headers of a state as name/value pairs (for fastify's `reply.headers`).
 * A trio is left out when no limit of its kind applies.
 */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const out: Record<string, string> = {};
  if (state.limitRequests >= 0) {
    out[RATE_LIMIT_HEADER.limitRequests] = String(state.limitRequests);
    out[RATE_LIMIT_HEADER.remainingRequests] = String(state.remainingRequests);
    out[RATE_LIMIT_HEADER.resetRequests] = formatResetDuration(state.resetRequestsMs);
  }
  if (state.limitTokens >= 0) {
    out[RATE_LIMIT_HEADER.limitTokens] = String(state.limitTokens);
    out[RATE_LIMIT_HEADER.remainingTokens] = String(state.remainingTokens);
    out[RATE_LIMIT_HEADER.resetTokens] = formatResetDuration(state.resetTokensMs);
  }
  return out;
}

/** Sets the rate-limit headers of a state on a node:http response (no object built in between). */
export function writeRateLimitHeaders(res: Pick<ServerResponse, 'setHeader'>, state: RateLimitState): void {
  if (state.limitRequests >= 0) {
    res.setHeader(RATE_LIMIT_HEADER.limitRequests, String(state.limitRequests));
    res.setHeader(RATE_LIMIT_HEADER.remainingRequests, String(state.remainingRequests));
    res.setHeader(RATE_LIMIT_HEADER.resetRequests, formatResetDuration(state.resetRequestsMs));
  }
  if (state.limitTokens >= 0) {
    res.setHeader(RATE_LIMIT_HEADER.limitTokens, String(state.limitTokens));
    res.setHeader(RATE_LIMIT_HEADER.remainingTokens, String(state.remainingTokens));
    res.setHeader(RATE_LIMIT_HEADER.resetTokens, formatResetDuration(state.resetTokensMs));
  }
}

/** Appends the rate-limit headers of a state to a flat [name, value, …] list for `res.writeHead`. */
export function pushRateLimitHeaders(out: string[], state: RateLimitState): void {
  if (state.limitRequests >= 0) {
    out.push(RATE_LIMIT_HEADER.limitRequests, String(state.limitRequests), RATE_LIMIT_HEADER.remainingRequests, String(state.remainingRequests), RATE_LIMIT_HEADER.resetRequests, formatResetDuration(state.resetRequestsMs));
  }
  if (state.limitTokens >= 0) {
    out.push(RATE_LIMIT_HEADER.limitTokens, String(state.limitTokens), RATE_LIMIT_HEADER.remainingTokens, String(state.remainingTokens), RATE_LIMIT_HEADER.resetTokens, formatResetDuration(state.resetTokensMs));
  }
}

/** Sets Retry-After for a refusal's `retryAfterMs`. */
export function writeRetryAfter(res: Pick<ServerResponse, 'setHeader'>, retryAfterMs: number): void {
  res.setHeader(RATE_LIMIT_HEADER.retryAfter, String(retryAfterSeconds(retryAfterMs)));
}
