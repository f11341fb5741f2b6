/**
 * The local leg of a service call, shared by direct calls and verified hop
 * calls: privilege, deadline, one limiter admission for the rule, and the
 * relay to a target picked by weight, failing over to the next target when
 * an attempt fails before any response byte (see failOver).
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
import type { Target } from './service-table.ts';

/**
 * Privilege, deadline, limits and relay of a call whose caller is known
 * (from its key, or from a verified hop). `body` is the request body (a stream,
 * or a small hop body opened whole);
 * `length` its plaintext length when the hop carried it (-1: as the client sent).
 */
export async function serveLocal(r: ServiceParts, call: ServiceCall, body: Readable | Buffer | null, length: number): Promise<void> {
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
  const headers = requestHeaders(call.req.headers, call.userId, length >= 0);
  if (length >= 0) headers['content-length'] = String(length);
  if (call.deadline !== NO_DEADLINE) headers[DEADLINE_HEADER] = String(call.deadline);
  const cl = call.req.headers['content-length'];
  call.bytesIn = length >= 0 ? length : cl !== undefined ? Number(cl) : 0;
  call.onStart ??= startLocalResponse;
  call.arm(timeoutMs);
  // One target has nowhere to fail over to: no retry closure on that path.
  if (entry.targets.length > 1) call.onRetry = (c, err) => failOver(r, c, err, headers, body);
  attempt(r, call, entry.pick(now), headers, body);
}

function attempt(r: ServiceParts, call: ServiceCall, target: Target, headers: Record<string, string | string[]>, body: Readable | Buffer | null): void {
  call.target = target;
  call.attempts++;
  r.agent.dispatch({ origin: target.origin, path: target.basePath + call.path, method: call.method as 'GET', headers, body }, call);
}

/** Errors of the connect phase: the request never left this node, whatever its method. */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);
/** Methods a service may receive twice without harm (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/**
 * An attempt failed before any response byte: its target cools down, and the
 * call goes to the next target when that cannot run it twice or lose a body:
 * - a connect failure (the request never left), any method;
 * - otherwise (reset, socket closed) only an idempotent method;
 * and in both cases only while no byte of the request body was read (a body
 * stream cannot be replayed), the call's head timer has not fired (its time is
 * spent), each target is tried at most once, and the next one is not cooling down.
 */
function failOver(r: ServiceParts, call: ServiceCall, err: Error, headers: Record<string, string | string[]>, body: Readable | Buffer | null): boolean {
  const entry = call.entry!;
  const now = Date.now();
  entry.failed(call.target!, now);
  if (call.timedOut || call.attempts >= entry.targets.length) return false;
  // A stream cannot be replayed once read; a whole body (a verified small hop body) can.
  if (body !== null && !Buffer.isBuffer(body) && (body.readableDidRead || body.destroyed)) return false;
  if (!CONNECT_FAILURES.has((err as NodeJS.ErrnoException).code ?? '') && !IDEMPOTENT.has(call.method)) return false;
  const next = entry.pick(now);
  if (next.health.cooldownUntil > now) return false;
  r.logger.debug({ service: entry.name, failed: call.target!.url, next: next.url, err: err.message }, 'service target failed before answering; trying the next');
  attempt(r, call, next, headers, body);
  return true;
}

/** Relays the upstream head as it is; the body goes straight to the client. */
const startLocalResponse: ResponseStart = (call, status, headers) => {
  call.res.writeHead(status, responseHeaders(headers, false));
  return call.res;
};

