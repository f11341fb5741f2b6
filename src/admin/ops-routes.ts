/** Health, readiness and Prometheus metrics (public); the percentile JSON (operator-only). */
import type { FastifyInstance } from 'fastify';
import { Errors, errorBody } from '../errors.ts';
import { requireAdmin } from './require-admin.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { LatencySnapshot } from '../observability/latency-stats.ts';

/** With workers, the whole server's figures, gathered by the main thread from every worker. */
export interface ServerObservability {
  /** False until every worker listens: a client connecting earlier would be pinned to the first ones. */
  allListening(): boolean;
  metrics(): Promise<{ contentType: string; body: string }>;
  latency(): Promise<LatencySnapshot>;
  resetLatency(): Promise<void>;
}

export function registerOpsRoutes(app: FastifyInstance, gw: Gateway, server: ServerObservability | null): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (gw.draining) return reply.code(503).send({ status: 'draining' });
    if (server !== null && !server.allListening()) return reply.code(503).send({ status: 'starting' });
    // Unready while keys cannot be looked up: a load balancer should send new clients elsewhere.
    if (!(await gw.storeHealth.check())) return reply.code(503).send({ status: 'store_unavailable' });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    if (gw.metrics === null) return reply.code(404).type('application/json').send(errorBody(Errors.routeNotFound, 'Metrics are disabled (TOLLGATE_METRICS=false).'));
    const { contentType, body } = server === null ? await gw.metrics.render() : await server.metrics();
    return reply.type(contentType).send(body);
  });
}

/** The percentile JSON and its reset: operator-only, served with the admin routes. */
export function registerAdminMetricsRoutes(app: FastifyInstance, gw: Gateway, server: ServerObservability | null): void {
  const admin = requireAdmin(gw);
  app.get('/api/metrics', { preHandler: admin }, async () => (server === null ? gw.latency.snapshot() : server.latency()));
  app.post('/api/metrics/reset', { preHandler: admin }, async () => {
    if (server === null) gw.latency.reset();
    else await server.resetLatency();
    return { reset: true };
  });
}
