/**
 * One node:http server, two paths: the client API routes (`/v1/*` and the
 * proxy alias) go straight to the hot-path handler; everything else — account
 * API, metrics, health, admin — goes to Fastify, where routing and schemas are
 * worth their cost. Fastify is mounted through `serverFactory` so both share
 * the port and the timeouts. With `admin.port` set, the operator side (admin
 * API, dashboard, /api/metrics) is served by a second Fastify listener instead.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ENDPOINTS, HOT_PATHS, MODEL_ENDPOINT, MODEL_PATH_PREFIX, pathOf } from './endpoints.ts';
import { closeAfterAnswer, closeIfBodyUnread, hasBody } from './lingering-close.ts';
import { handleApiRequest } from '../gateway/handle-request.ts';
import { handleStoredResponse, STORED_RESPONSE_PREFIX } from '../gateway/stored-responses.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { Errors, errorBody, sendError, unknownUrlMessage } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { ChangeSync } from '../sync/change-sync.ts';
import type { ChangeSignal } from '../sync/change-signal.ts';
import { registerAdminMetricsRoutes, registerOpsRoutes, type ServerObservability } from '../admin/ops-routes.ts';
import { registerAccountRoutes } from '../admin/account-routes.ts';
import { registerAdminRoutes } from '../admin/admin-routes.ts';
import { registerDashboard } from '../admin/dashboard/dashboard-routes.ts';

export interface ServerDeps {
  store: Store;
  sync: Pick<ChangeSync, 'pollNow'>;
  signal: ChangeSignal | null;
  logger: Logger;
  services?: { handle(req: IncomingMessage, res: ServerResponse): void; upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void; closeUpgraded(): void } | null;
  /** With workers: /metrics and /api/metrics for the whole server instead of this thread (ops-routes.ts). */
  observe?: ServerObservability | null;
  /** With workers: share the port (SO_REUSEPORT); only one worker opens the separate admin listener. */
  worker?: { reusePort: true; adminListener: boolean } | null;
}

export interface HttpServer {
  readonly node: Server;
  readonly app: FastifyInstance;
  listen(host: string, port: number): Promise<string>;
  /** http://host:port of the separate admin listener once listening; null when admin is on the main one. */
  readonly adminUrl: string | null;
  /** Stop accepting, let requests in flight finish until the grace deadline, then cut the rest. */
  drain(graceMs: number): Promise<void>;
}

export function createHttpServer(gw: Gateway, deps: ServerDeps): HttpServer {
  const cfg = gw.config.server;
  let node!: Server;
  const app = Fastify({
    logger: false,
    bodyLimit: gw.config.bodyLimitBytes,
    serverFactory: (fastifyHandler) => {
      node = createServer({
        headersTimeout: cfg.headersTimeoutMs,
        requestTimeout: cfg.requestTimeoutMs,
        keepAliveTimeout: cfg.keepAliveTimeoutMs,
        // Node checks the two timeouts above every 30 s by default: a dribbling client would live
        // ~3× headersTimeout. Checking at least every second keeps each within about a second.
        connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(Math.min(cfg.headersTimeoutMs, cfg.requestTimeoutMs) / 2))),
      }, (req, res) => {
        const path = pathOf(req.url ?? '/');
        const endpoint = ENDPOINTS.get(`${req.method} ${path}`);
        if (endpoint !== undefined) {
          if (endpoint.kind === 'models') closeIfBodyUnread(req, res);
          return handleApiRequest(gw, req, res, endpoint);
        }
        if (req.method === 'GET' && path.length > MODEL_PATH_PREFIX.length && path.startsWith(MODEL_PATH_PREFIX)) {
          closeIfBodyUnread(req, res);
          return handleApiRequest(gw, req, res, MODEL_ENDPOINT);
        }
        if (path.length > STORED_RESPONSE_PREFIX.length && path.startsWith(STORED_RESPONSE_PREFIX)) return handleStoredResponse(gw, req, res, path);
        if (deps.services != null && path.startsWith('/svc/')) return deps.services.handle(req, res);
        // The rest of /v1 is ours too: answer without handing a body to Fastify's parsers.
        if (HOT_PATHS.has(path) || path.startsWith('/v1/')) {
          closeIfBodyUnread(req, res);
          req.resume();
          res.setHeader('x-response-time-ms', '0.00');
          return HOT_PATHS.has(path) ? sendError(res, Errors.methodNotAllowed) : sendError(res, Errors.routeNotFound, unknownUrlMessage(req.method, path));
        }
        if (hasBody(req)) guardBodyIdle(req, res, cfg.bodyIdleTimeoutMs);
        fastifyHandler(req, res);
      });
      // The one upgrade served: the multiplexed service hop (services/hop/mux/).
      node.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (deps.services != null) return deps.services.upgrade(req, socket, head);
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      });
      return node;
    },
  });
  answerInApiShape(app, deps.logger);
  registerOpsRoutes(app, gw, deps.observe ?? null);
  registerAccountRoutes(app, gw, deps.store);
  // The operator side: on this listener, or on its own (admin.port).
  const ownAdminListener = gw.config.admin.port !== null && (deps.worker == null || deps.worker.adminListener);
  const adminApp = ownAdminListener ? Fastify({ logger: false, bodyLimit: gw.config.bodyLimitBytes }) : app;
  if (adminApp !== app) answerInApiShape(adminApp, deps.logger);
  const hasAdmin = gw.config.admin.port === null || adminApp !== app;
  if (hasAdmin) {
    registerAdminMetricsRoutes(adminApp, gw, deps.observe ?? null);
    registerAdminRoutes(adminApp, gw, deps);
    registerDashboard(adminApp, gw, deps);
  }
  let adminUrl: string | null = null;

  return {
    get node() { return node; },
    app,
    get adminUrl() { return adminUrl; },
    async listen(host, port) {
      // reusePort (Node ≥ 22.12) is passed through to server.listen; Fastify's type does not list it yet.
      const options = { host, port, reusePort: deps.worker?.reusePort ?? false };
      await app.listen(options as { host: string; port: number });
      if (adminApp !== app) adminUrl = await adminApp.listen({ host: gw.config.admin.host, port: gw.config.admin.port! }).then(() => urlOf(adminApp.server));
      return urlOf(node);
    },
    async drain(graceMs) {
      // Readiness flips first (gw.draining is set by the caller): the listener
      // stays open so /readyz can answer 503 and late requests get a clear 503,
      // until the requests in flight are done or the grace deadline cuts them.
      const deadline = Date.now() + graceMs;
      while (gw.active.size > 0 && Date.now() < deadline) await sleep(20);
      for (const ctx of gw.active) ctx.cancel('shutdown');
      const cutDeadline = Date.now() + 2_000;
      while (gw.active.size > 0 && Date.now() < cutDeadline) await sleep(10);
      const closed = new Promise<void>((resolve) => node.close(() => resolve()));
      node.closeAllConnections();
      deps.services?.closeUpgraded();
      await closed;
      await app.close();
      if (adminApp !== app) await adminApp.close();
    },
  };
}

/** Response time on every answer; 404s and errors in the API's error JSON. */
function answerInApiShape(app: FastifyInstance, logger: Logger): void {
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-response-time-ms', reply.elapsedTime.toFixed(2));
    closeIfBodyUnread(req.raw, reply.raw);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).type('application/json').send(errorBody(Errors.routeNotFound, unknownUrlMessage(req.method, req.url)));
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    const spec = status === 413 ? Errors.bodyTooLarge : status === 415 ? Errors.unsupportedMediaType : status === 400 ? (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message) ? Errors.invalidJson : Errors.invalidBody) : Errors.internal;
    if (status >= 500) logger.error({ err }, 'request failed');
    // A body over the limit is not read to its end: answer and close.
    if (status === 413) closeAfterAnswer(reply.raw);
    reply.code(status).type('application/json').send(errorBody(spec, status >= 500 ? undefined : err.message));
  });
}

/**
 * 408 and close when a body going to Fastify pauses longer than `idleMs`.
 * The hot path does the same in its own body reader (gateway/read-request.ts).
 */
function guardBodyIdle(req: IncomingMessage, res: ServerResponse, idleMs: number): void {
  req.setTimeout(idleMs, () => {
    if (!res.headersSent) {
      closeAfterAnswer(res);
      sendError(res, Errors.requestTimeout, `No request body data for ${idleMs} ms.`);
    } else req.socket.destroy();
  });
  req.once('end', () => req.setTimeout(0));
}

function urlOf(server: Server): string {
  const addr = server.address() as AddressInfo;
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
