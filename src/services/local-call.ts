/**
 * The local leg of a service call, shared by direct calls and verified hop
 * calls: privilege, deadline, one limiter admission for the rule, and the
 * relay to a target picked by weight.
 */
import type { Readable } from 'node:stream';
import { Errors } from '../errors.ts';
import { CONCURRENCY_RETRY_MS } from '../limiter/limiter.ts';
import { refusalMessage } from '../limiter/refusal.ts';
import { DEADLINE_HEADER, effectiveTimeout, NO_DEADLINE } from './deadline.ts';
import { requestHeaders, responseHeaders } from './forward-headers.ts';
import type { ResponseStart, ServiceCall } from './service-call.ts';
import { ServiceErrors } from './service-errors.ts';
import type { ServiceParts } from './service-parts.ts';

/**
 * Privilege, deadline, limits and relay of a call whose caller is known
 * (from its key, or from a verified hop). `body` is the request body stream;
 * `length` its plaintext length when the hop carried it (-1: as the client sent).
 */
export async function serveLocal(r: ServiceParts, call: ServiceCall, body: Readable | null, length: number): Promise<void> {
  const entry = call.entry!;
  const method = call.method;
  const q = call.path.indexOf('?');
  const rule = entry.match(call.userId, method, q === -1 ? call.path : call.path.slice(0, q));
  if (rule === null) return call.fail(ServiceErrors.forbidden);
  call.rule = rule;
  const now = Date.now();
  const timeoutMs = effectiveTimeout(rule.timeoutMs, call.deadline, now);
  if (timeoutMs <= 0) return call.fail(ServiceErrors.deadlineExceeded);
  if (rule.policies.length > 0) {
    const limiter = r.gw.limiter;
    const verdict = limiter.admitSync !== undefined ? limiter.admitSync(rule.admission) : await limiter.admit(rule.admission);
    if (!verdict.allowed) {
      const retryMs = verdict.kind === 'concurrency' ? CONCURRENCY_RETRY_MS : verdict.retryAfterMs;
      return call.fail(verdict.kind === 'unavailable' ? Errors.limiterUnavailable : Errors.rateLimited, refusalMessage(verdict), Math.max(1, Math.ceil(retryMs / 1000)));
    }
    call.lease = verdict.lease;
    if (call.ended) return; // the client left while the limiter answered; record() settles the lease
  }
  const target = entry.pick();
  const headers = requestHeaders(call.req.headers, call.userId, length >= 0);
  if (length >= 0) headers['content-length'] = String(length);
  if (call.deadline !== NO_DEADLINE) headers[DEADLINE_HEADER] = String(call.deadline);
  const cl = call.req.headers['content-length'];
  call.bytesIn = length >= 0 ? length : cl !== undefined ? Number(cl) : 0;
  call.onStart ??= startLocalResponse;
  call.arm(timeoutMs);
  r.agent.dispatch({ origin: target.origin, path: target.basePath + call.path, method: method as 'GET', headers, body }, call);
}

/** Relays the upstream head as it is; the body goes straight to the client. */
const startLocalResponse: ResponseStart = (call, status, headers) => {
  call.res.writeHead(status, responseHeaders(headers, false));
  return call.res;
};

