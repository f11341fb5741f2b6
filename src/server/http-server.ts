/**
 * One node:http server, two paths: the client API routes (`/v1/*` and the
 * proxy alias) go straight to the hot-path handler; everything else — account
 * API, metrics, health, admin — goes to Fastify, where routing and schemas are
 * worth their cost. Fastify is mounted through `serverFactory` so both share
 * the port and the timeouts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ENDPOINTS, HOT_PATHS, pathOf } from '../gateway/endpoints.ts';
import { handleApiRequest } from '../gateway/handle-request.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { Errors, errorBody, sendError } from '../errors.ts';
import type { Store } from '../store/store.ts';
import type { ChangeSync } from '../sync/change-sync.ts';
import type { ChangeSignal } from '../sync/change-signal.ts';
import { registerOpsRoutes } from './ops-routes.ts';
import { registerAccountRoutes } from './account-routes.ts';
import { registerAdminRoutes } from './admin-routes.ts';
import { registerDashboard } from '../dashboard/dashboard-routes.ts';

export interface ServerDeps { store: Store; sync: ChangeSync; signal: ChangeSignal | null; logger: Logger; services?: { handle(req: IncomingMessage, res: ServerResponse): void } | null }

export interface HttpServer {
  readonly node: Server;
  readonly app: FastifyInstance;
  listen(host: string, port: number): Promise<string>;
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
      node = createServer({ headersTimeout: cfg.headersTimeoutMs, requestTimeout: cfg.requestTimeoutMs, keepAliveTimeout: cfg.keepAliveTimeoutMs }, (req, res) => {
        const path = pathOf(req.url ?? '/');
        const endpoint = ENDPOINTS.get(`${req.method} ${path}`);
        if (endpoint !== undefined) return handleApiRequest(gw, req, res, endpoint);
        if (deps.services != null && path.startsWith('/svc/')) return deps.services.handle(req, res);
        // The rest of /v1 is ours too: answer without handing a body to Fastify's parsers.
        if (HOT_PATHS.has(path) || path.startsWith('/v1/')) {
          req.resume();
          res.setHeader('x-response-time-ms', '0.00');
          return sendError(res, HOT_PATHS.has(path) ? Errors.methodNotAllowed : Errors.routeNotFound);
        }
        fastifyHandler(req, res);
      });
      return node;
    },
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-response-time-ms', reply.elapsedTime.toFixed(2));
  });
  app.setNotFoundHandler((_req, reply) => {
    reply.code(404).type('application/json').send(errorBody(Errors.routeNotFound));
  });
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    const status = err.statusCode ?? 500;
    const spec = status === 413 ? Errors.bodyTooLarge : status === 415 ? Errors.unsupportedMediaType : status === 400 ? (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(err.message) ? Errors.invalidJson : Errors.invalidBody) : Errors.internal;
    if (status >= 500) deps.logger.error({ err }, 'request failed');
    reply.code(status).type('application/json').send(errorBody(spec, status >= 500 ? undefined : err.message));
  });
  registerOpsRoutes(app, gw);
  registerAccountRoutes(app, gw, deps.store);
  registerAdminRoutes(app, gw, deps);
  registerDashboard(app, gw, deps);

  return {
    get node() { return node; },
    app,
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = node.address() as AddressInfo;
      return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
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
      await closed;
      await app.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
