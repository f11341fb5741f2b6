/** Health, readiness, Prometheus metrics and the percentile JSON. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors, errorBody } from '../errors.ts';
import { adminTokenMatches } from '../observability/admin-token.ts';
import type { Gateway } from '../gateway/gateway.ts';

/** preHandler for operator-only routes: the admin token, compared in constant time. */
export function requireAdmin(gw: Gateway) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = gw.config.adminToken;
    if (token === null) return reply.code(403).type('application/json').send(errorBody(Errors.adminDisabled));
    if (!adminTokenMatches(req.headers.authorization, token)) return reply.code(401).type('application/json').send(errorBody(Errors.adminTokenRequired));
  };
}

export function registerOpsRoutes(app: FastifyInstance, gw: Gateway): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (gw.draining) return reply.code(503).send({ status: 'draining' });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    if (gw.metrics === null) return reply.code(404).type('application/json').send(errorBody(Errors.routeNotFound, 'Metrics are disabled (TOLLGATE_METRICS=false).'));
    const { contentType, body } = await gw.metrics.render();
    return reply.type(contentType).send(body);
  });
  const admin = requireAdmin(gw);
  app.get('/api/metrics', { preHandler: admin }, async () => gw.latency.snapshot());
  app.post('/api/metrics/reset', { preHandler: admin }, async () => {
    gw.latency.reset();
    return { reset: true };
  });
}
