/**
 * The front door of service routes: `/svc/<service>/<path>`. In order:
 * a hop request (signed header) goes to the ingress checks; otherwise the
 * caller's key is identified (same key store and cache as /v1), the service
 * looked up, a remote service forwarded through the egress; a local one gets
 * the privilege check, the deadline, one limiter admission for the rule, and
 * the relay to a target picked by weight.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { Errors, sendError } from '../errors.ts';
import { identifyCaller } from '../gateway/authenticate.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { CallWriter } from './call-writer.ts';
import { BAD_DEADLINE, DEADLINE_HEADER, parseDeadline } from './deadline.ts';
import { hasBody } from './forward-headers.ts';
import type { EgressLink, IngressLink } from './hop/hop-links.ts';
import type { ServiceParts } from './service-parts.ts';
import { serveLocal } from './local-call.ts';
import { forwardToIngress } from './hop/egress-call.ts';
import { acceptHop } from './hop/ingress-call.ts';
import { HOP_HEADER } from './hop/hop-header.ts';
import { MUX_PATH, MUX_PROTOCOL } from './hop/mux/mux-client.ts';
import { serveMuxConnection } from './hop/mux/mux-server.ts';
import { ServiceCall } from './service-call.ts';
import { ServiceErrors } from './service-errors.ts';
import type { ServiceMetrics } from './service-metrics.ts';
import type { ServiceTable } from './service-table.ts';

const PREFIX = '/svc/';
const MAX_RECORDED_PATH = 512;


export class ServiceRouter implements ServiceParts {
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
  /** Multiplexed hop connections from egress nodes, closed by closeUpgraded. */
  readonly #muxSockets = new Set<Socket>();

  constructor(parts: ServiceParts) {
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

  /**
   * Serves one request whose path starts with /svc/. `wire`: the sealed body
   * of a hop call that came whole over the multiplexed hop connection.
   */
  handle(req: IncomingMessage, res: ServerResponse, wire: Buffer | null = null): void {
    const call = new ServiceCall(req, res, Date.now());
    call.onEnd = this.#record;
    serve(this, call, wire).catch((err: unknown) => {
      this.logger.error({ err }, 'service call failed inside the gateway');
      call.fail(Errors.internal);
    });
  }

  /** An HTTP upgrade: an egress node opening the multiplexed hop; anything else is refused. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.ingress === null || req.url !== MUX_PATH || req.headers.upgrade !== MUX_PROTOCOL) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${MUX_PROTOCOL}\r\n\r\n`);
    this.#muxSockets.add(socket as Socket);
    socket.once('close', () => this.#muxSockets.delete(socket as Socket));
    serveMuxConnection(socket as Socket, head, (callReq, callRes, wire) => this.handle(callReq, callRes, wire));
  }

  /** Closes the upgraded hop connections (the server's close would wait for them forever); calls on them are cut. */
  closeUpgraded(): void {
    for (const socket of this.#muxSockets) socket.destroy();
    this.#muxSockets.clear();
  }
}

async function serve(r: ServiceRouter, call: ServiceCall, wire: Buffer | null): Promise<void> {
  const url = call.req.url ?? '/';
  const slash = url.indexOf('/', PREFIX.length);
  const q = url.indexOf('?');
  const nameEnd = slash === -1 || (q !== -1 && q < slash) ? (q === -1 ? url.length : q) : slash;
  const name = url.slice(PREFIX.length, nameEnd);
  call.path = nameEnd === url.length ? '/' : url[nameEnd] === '?' ? '/' + url.slice(nameEnd) : url.slice(nameEnd);
  if (call.req.headers[HOP_HEADER] !== undefined) return acceptHop(r, call, name, url, wire);
  // The multiplexed connection carries hop calls only (its requests have no socket, no body stream).
  if (wire !== null) return call.fail(ServiceErrors.hopMalformed, 'A call on the hop connection needs its hop header.');
  if (r.gw.draining) return call.fail(Errors.shuttingDown);
  const identity = await identifyCaller(r.gw, call.req, call.ts);
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
