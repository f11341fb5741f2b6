/**
 * Admin routes for service routes: services (upsert by name, list, delete),
 * caller rules (upsert by service + caller + path, list, delete by id) and
 * the latest call records of a service, and traffic per service over a
 * time range (the dashboard's services tab). Changes reach this node's service
 * table before the reply; other nodes follow through the change feed.
 */
import { badInput, bool, checkRange, idParams, int, listOf, nullableInt, object, parseTime, str, notFound, timeParam, type AdminRoute } from './admin-schema.ts';

const METHODS = { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', pattern: '^([A-Z]{1,16}|\\*)$' }, description: 'upper-case methods, or ["*"]' };
const TARGETS = {
  type: 'array', maxItems: 64, description: 'upstream base URLs and weights (empty for a remote service)',
  items: object({ url: str(2000), weight: { ...int(1, 1_000_000), default: 1 } }, ['url']),
};
const nameParams = object({ name: str(63) }, ['name']);
const TRAFFIC = {
  type: 'object', required: ['object', 'from', 'to', 'data'],
  properties: {
    object: { const: 'list' }, from: { type: 'integer' }, to: { type: 'integer' },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          service: { type: 'string' }, requests: { type: 'integer' }, errors: { type: 'integer', description: '5xx answers' }, refused: { type: 'integer', description: '4xx answers' },
          latency_p50_ms: { type: 'integer' }, bytes_in: { type: 'integer' }, bytes_out: { type: 'integer' },
        },
      },
    },
  },
};

/** Services, rules and call records. */
export const SERVICE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/services', operationId: 'listServices', tag: 'services', status: 200, response: listOf({ type: 'object' }),
    summary: 'List services',
    async handler(_input, ctx) {
      return { object: 'list', data: await ctx.store.services.list() };
    },
  },
  {
    method: 'PUT', url: '/admin/services/:name', operationId: 'putService', tag: 'services', status: 200, response: { type: 'object' },
    summary: 'Create or replace a service', params: nameParams,
    body: object({ targets: { ...TARGETS, default: [] }, timeout_ms: { ...int(1, 3_600_000), default: 30_000 }, remote: { ...bool('forward through the secure hop to the configured ingress'), default: false } }),
    async handler({ params, body }, ctx) {
      const service = await ctx.store.services.put({ name: params.name, targets: body.targets, timeoutMs: body.timeout_ms, remote: body.remote });
      await ctx.applied();
      return service;
    },
  },
  {
    method: 'DELETE', url: '/admin/services/:name', operationId: 'deleteService', tag: 'services', status: 200, response: { type: 'object' }, notFound: true,
    summary: 'Delete a service and its rules', params: nameParams,
    async handler({ params }, ctx) {
      if (!(await ctx.store.services.remove(params.name))) throw notFound('service', params.name, 'name');
      await ctx.applied();
      return { object: 'service', name: params.name, deleted: true };
    },
  },
  {
    method: 'GET', url: '/admin/service-rules', operationId: 'listServiceRules', tag: 'services', status: 200, response: listOf({ type: 'object' }),
    summary: 'List caller rules (of one service with ?service=)', querystring: object({ service: str(63) }),
    async handler({ query }, ctx) {
      return { object: 'list', data: await ctx.store.services.rules(query.service) };
    },
  },
  {
    method: 'PUT', url: '/admin/service-rules', operationId: 'putServiceRule', tag: 'services', status: 200, response: { type: 'object' }, notFound: true,
    summary: 'Let a caller (user) call paths and methods of a service, with limits and a timeout',
    body: object({
      service: str(63), user_id: int(1), path: str(500), methods: { ...METHODS, default: ['*'] },
      rpm: nullableInt(0, 'requests per minute (null: none)'), concurrency: nullableInt(0, 'calls in flight (null: none)'), timeout_ms: nullableInt(1, 'null: the service timeout'),
    }, ['service', 'user_id', 'path']),
    async handler({ body }, ctx) {
      if ((await ctx.store.users.byId(body.user_id)) === undefined) throw notFound('user', body.user_id, 'user_id');
      if (!String(body.path).startsWith('/')) throw badInput('path', "Invalid request body: 'path' must start with '/'.");
      const rule = await ctx.store.services.allow({
        service: body.service, userId: body.user_id, path: body.path, methods: body.methods,
        rpm: body.rpm ?? null, concurrency: body.concurrency ?? null, timeoutMs: body.timeout_ms ?? null,
      });
      await ctx.applied();
      return rule;
    },
  },
  {
    method: 'DELETE', url: '/admin/service-rules/:id', operationId: 'deleteServiceRule', tag: 'services', status: 200, response: { type: 'object' }, notFound: true,
    summary: 'Delete a caller rule', params: idParams(),
    async handler({ params }, ctx) {
      if (!(await ctx.store.services.removeRule(params.id))) throw notFound('service rule', params.id);
      await ctx.applied();
      return { object: 'service_rule', id: params.id, deleted: true };
    },
  },
  {
    method: 'GET', url: '/admin/service-traffic', operationId: 'getServiceTraffic', tag: 'services', status: 200, response: TRAFFIC,
    summary: 'Calls per service over a time range: requests, errors (5xx), refused (4xx), median latency, bytes',
    querystring: object({ from: timeParam('inclusive lower bound (default: an hour before to)'), to: timeParam('exclusive upper bound (default: now)') }),
    async handler({ query }, ctx) {
      const to = parseTime(query.to, 'to') ?? Date.now();
      const from = parseTime(query.from, 'from') ?? to - 3_600_000;
      checkRange(from, to);
      const data = (await ctx.store.services.traffic(from, to)).map((t) => ({
        service: t.service, requests: t.requests, errors: t.errors, refused: t.refused, latency_p50_ms: t.latencyP50Ms, bytes_in: t.bytesIn, bytes_out: t.bytesOut,
      }));
      return { object: 'list', from, to, data };
    },
  },
  {
    method: 'GET', url: '/admin/services/:name/calls', operationId: 'listServiceCalls', tag: 'services', status: 200, response: listOf({ type: 'object' }),
    summary: 'Latest call records of a service', params: nameParams, querystring: object({ limit: { ...int(1, 1000), default: 100 } }),
    async handler({ params, query }, ctx) {
      return { object: 'list', data: await ctx.store.services.calls(params.name, query.limit) };
    },
  },
];
