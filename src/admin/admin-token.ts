/**
 * The admin token comparison behind requireAdmin (admin API, dashboard data,
 * /api/metrics) and the profiling port.
 *
 * Compares SHA-256 digests with crypto.timingSafeEqual: digests have equal
 * length whatever the inputs, so neither the token's content nor its length
 * leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * True when `header` carries `token`, as "Bearer <token>" (scheme
 * case-insensitive) or as the bare token (e.g. from an x-admin-token header).
 * Always false when `token` is empty: an unset admin token disables admin access.
 */
export function adminTokenMatches(header: string | undefined, token: string): boolean {
  if (token === '' || header === undefined) return false;
  let presented = header.trim();
  if (presented.length > 7 && presented.slice(0, 7).toLowerCase() === 'bearer ') presented = presented.slice(7).trim();
  return timingSafeEqual(digest(presented), digest(token));
}
