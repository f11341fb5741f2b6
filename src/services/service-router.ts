/**
 * The front door of service routes: `/svc/<service>/<path>`. In order:
 * a hop request (signed header) goes to the ingress checks; otherwise the
 * caller's key is identified (same key store and cache as /v1), the service
 * looked up, a remote service forwarded through the egress; a local one gets
 * the privilege check, the deadline, one limiter admission for the rule, and
 * the relay to a target picked by weight.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { Errors, sendError } from '../errors.ts';
import { identifyCaller } from '../gateway/authenticate.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { CONCURRENCY_RETRY_MS } from '../limiter/limiter.ts';
import { refusalMessage } from '../limiter/refusal.ts';
import type { CallWriter } from './call-writer.ts';
import { BAD_DEADLINE, DEADLINE_HEADER, effectiveTimeout, NO_DEADLINE, parseDeadline } from './deadline.ts';
import { hasBody, requestHeaders } from './forward-headers.ts';
import type { EgressLink } from './hop/egress-call.ts';
import { forwardToIngress } from './hop/egress-call.ts';
import { acceptHop, type IngressLink } from './hop/ingress-call.ts';
import { HOP_HEADER } from './hop/hop-header.ts';
import { ServiceCall, type ResponseStart } from './service-call.ts';
import { ServiceErrors } from './service-errors.ts';
import type { ServiceMetrics } from './service-metrics.ts';
import type { ServiceTable } from './service-table.ts';
import { responseHeaders } from './forward-headers.ts';

const PREFIX = '/svc/';
const MAX_RECORDED_PATH = 512;

export interface ServiceRouterParts {
  gw: Gateway;
  table: ServiceTable;
  /** Pool for service targets and the ingress node; separate from the LLM upstream pool. */
  agent: Agent;
  writer: CallWriter;
  metrics: ServiceMetrics | null;
  hop: Config['services']['hop'];
  egress: EgressLink | null;
  ingress: IngressLink | null;
  logger: Logger;
}

export class ServiceRouter {
  readonly gw: Gateway;
  /** Swapped whole on a 'services' change event. */
  table: ServiceTable;
  readonly agent: Agent;
  readonly writer: CallWriter;
  readonly metrics: ServiceMetrics | null;
  readonly hop: Config['services']['hop'];
  readonly egress: EgressLink | null;
  readonly ingress: IngressLink | null;
  readonly logger: Logger;
  readonly #record: (call: ServiceCall) => void;

  constructor(parts: ServiceRouterParts) {
    this.gw = parts.gw;
    this.table = parts.table;
    this.agent = parts.agent;
    this.writer = parts.writer;
    this.metrics = parts.metrics;
    this.hop = parts.hop;
    this.egress = parts.egress;
    this.ingress = parts.ingress;
    this.logger = parts.logger;
    this.#record = (call) => record(this, call);
  }

  /** Serves one request whose path starts with /svc/. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const call = new ServiceCall(req, res, Date.now());
    call.onEnd = this.#record;
    serve(this, call).catch((err: unknown) => {
      this.logger.error({ err }, 'service call failed inside the gateway');
      call.fail(Errors.internal);
    });
  }
}

async function serve(r: ServiceRouter, call: ServiceCall): Promise<void> {
  const url = call.req.url ?? '/';
  const slash = url.indexOf('/', PREFIX.length);
  const q = url.indexOf('?');
  const nameEnd = slash === -1 || (q !== -1 && q < slash) ? (q === -1 ? url.length : q) : slash;
  const name = url.slice(PREFIX.length, nameEnd);
  call.path = nameEnd === url.length ? '/' : url[nameEnd] === '?' ? '/' + url.slice(nameEnd) : url.slice(nameEnd);
  if (call.req.headers[HOP_HEADER] !== undefined) return acceptHop(r, call, name, url);
  if (r.gw.draining) return call.fail(Errors.shuttingDown);
  const identity = await identifyCaller(r.gw, call.req.headers, call.ts);
  if ('status' in identity) {
    call.status = identity.status;
    call.req.resume();
    return sendError(call.res, identity);
  }
  call.userId = identity.userId;
  const entry = r.table.get(name);
  if (entry === undefined) return call.fail(ServiceErrors.unknownService, `No service named '${name}'.`);
  call.entry = entry;
  call.deadline = parseDeadline(call.req.headers[DEADLINE_HEADER]);
  if (call.deadline === BAD_DEADLINE) return call.fail(ServiceErrors.badDeadline);
  if (entry.remote) return forwardToIngress(r, call, url);
  return serveLocal(r, call, hasBody(call.req.headers) ? call.req : null, -1);
}

/**
 * Privilege, deadline, limits and relay of a call whose caller is known
 * (from its key, or from a verified hop). `body` is the request body stream;
 * `length` its plaintext length when the hop carried it (-1: as the client sent).
 */
export async function serveLocal(r: ServiceRouter, call: ServiceCall, body: Readable | null, length: number): Promise<void> {
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

function record(r: ServiceRouter, call: ServiceCall): void {
  if (call.lease !== null) r.gw.limiter.settle(call.lease, 0);
  const seconds = (performance.now() - call.startedAt) / 1000;
  r.metrics?.observe(call.entry, call.status, seconds);
  if (call.entry === null) return; // unknown service or caller: nothing to attribute the call to
  const q = call.path.indexOf('?');
  const path = q === -1 ? call.path : call.path.slice(0, q);
  r.writer.push({
    ts: call.ts,
    user_id: call.userId,
    service: call.entry.name,
    rule_id: call.rule?.id ?? null,
    method: call.method,
    path: path.length > MAX_RECORDED_PATH ? path.slice(0, MAX_RECORDED_PATH) : path,
    status: call.status,
    bytes_in: call.bytesIn,
    bytes_out: call.bytesOut,
    latency_ms: Math.round(seconds * 1000),
  });
}
