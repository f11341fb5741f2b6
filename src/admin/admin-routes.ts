/**
 * The operator API under /admin: users, keys, channels and their upstream
 * keys, prices, limit policies, spend budgets, usage records and aggregates, and the OpenAPI
 * document of all of it at /admin/openapi.json.
 *
 * Registered as one encapsulated Fastify plugin, so its admin-token guard,
 * strict validators and error handler apply to these routes only. The token
 * is checked in `onRequest`, before the body is even parsed: without it, a
 * caller learns nothing, not even which fields a route expects.
 *
 * Every mutation commits to the store (appending to the change feed in the
 * same transaction) and then polls the feed before replying, so this node's
 * caches and tables already reflect it for the next request; other nodes
 * follow within their poll interval.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errorBody, type ErrorSpec } from '../errors.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { StoreInputError, type Store } from '../store/store.ts';
import type { ChangeSync } from '../sync/change-sync.ts';
import type { ChangeSignal } from '../sync/change-signal.ts';
import { BUDGET_ROUTES } from './admin-budgets.ts';
import { CHANNEL_ROUTES } from './admin-channels.ts';
import { buildOpenApi } from './admin-openapi.ts';
import { POLICY_ROUTES } from './admin-policies.ts';
import { PROXY_ROUTES } from './admin-proxies.ts';
import { SERVICE_ROUTES } from './admin-services.ts';
import { FILTER_ROUTES } from './admin-filters.ts';
import { AdminError, AdminErrors, adminValidatorCompiler, describeValidation, type AdminContext, type AdminRoute } from './admin-schema.ts';
import { TIMESERIES_ROUTES } from './admin-timeseries.ts';
import { USAGE_ROUTES } from './admin-usage.ts';
import { USER_ROUTES } from './admin-users.ts';
import { KEY_ROUTES } from './admin-keys.ts';
import { CACHE_ROUTES } from './admin-cache.ts';
import { requireAdmin } from './require-admin.ts';

/** What the admin routes need besides the gateway (a subset of the server's deps). */
/** `sync.pollNow` applies the change feed here; with --workers, in every worker and the main thread before it resolves. */
export interface AdminDeps { store: Store; sync: Pick<ChangeSync, 'pollNow'>; signal: ChangeSignal | null; logger: Logger }

/** Every admin route but the OpenAPI document itself. */
export const ADMIN_ROUTES: readonly AdminRoute[] = [...USER_ROUTES, ...KEY_ROUTES, ...CHANNEL_ROUTES, ...PROXY_ROUTES, ...POLICY_ROUTES, ...BUDGET_ROUTES, ...USAGE_ROUTES, ...TIMESERIES_ROUTES, ...SERVICE_ROUTES, ...FILTER_ROUTES, ...CACHE_ROUTES];

const OPENAPI_ROUTE: AdminRoute = {
  method: 'GET', url: '/admin/openapi.json', operationId: 'openApi', tag: 'meta', status: 200,
  summary: 'This document', response: { type: 'object' },
  handler: async () => OPENAPI_DOC,
};

const OPENAPI_DOC = buildOpenApi([...ADMIN_ROUTES, OPENAPI_ROUTE], '1.0.0');

function send(reply: FastifyReply, spec: ErrorSpec, message: string, param: string | null) {
  return reply.code(spec.status).type('application/json').send(errorBody(spec, message, param));
}

const STORE_ERRORS: Record<StoreInputError['code'], ErrorSpec> = { not_found: AdminErrors.notFound, conflict: AdminErrors.conflict, invalid: AdminErrors.invalid };

/**
 * Bad input → 400 naming the field, unknown ids → 404, conflicts → 409, all
 * in OpenAI's error shape. Anything else is rethrown to the server's own
 * handler (invalid JSON, 413, 415, 500), which Fastify calls next.
 */
function adminErrorHandler(err: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
  if (err.validation !== undefined) {
    const d = describeValidation(err.validation as Parameters<typeof describeValidation>[0], err.validationContext ?? 'body');
    return send(reply, d.spec, d.message, d.param);
  }
  if (err instanceof AdminError) return send(reply, err.spec, err.message, err.param);
  if (err instanceof StoreInputError) return send(reply, STORE_ERRORS[err.code], `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.`, null);
  throw err;
}

/** Registers the /admin plugin on `app` (loaded when the server starts listening). */
export function registerAdminRoutes(app: FastifyInstance, gw: Gateway, deps: AdminDeps): void {
  const ctx: AdminContext = {
    gw,
    store: deps.store,
    logger: deps.logger,
    // pollNow resolves after a poll that started after our commit; the Redis
    // doorbell (when configured) makes the other nodes poll at once too.
    applied: async () => {
      await deps.sync.pollNow();
      await deps.signal?.publish();
    },
  };
  app.register(async (scope) => {
    scope.setValidatorCompiler(adminValidatorCompiler());
    scope.setErrorHandler(adminErrorHandler);
    scope.addHook('onRequest', requireAdmin(gw));
    // Action routes (…/revoke, …/disable) take no body, and many clients send
    // `content-type: application/json` with an empty one anyway.
    const json = scope.getDefaultJsonParser('error', 'error');
    scope.removeContentTypeParser('application/json');
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => (body.length === 0 ? done(null, undefined) : json(req, body as string, done)));
    for (const route of [...ADMIN_ROUTES, OPENAPI_ROUTE]) {
      const schema: Record<string, unknown> = {};
      if (route.params !== undefined) schema.params = route.params;
      if (route.querystring !== undefined) schema.querystring = route.querystring;
      if (route.body !== undefined) schema.body = route.body;
      scope.route({
        method: route.method,
        url: route.url,
        schema,
        handler: async (req, reply) => {
          const out = await route.handler({ params: req.params as Record<string, any>, query: req.query as Record<string, any>, body: (req.body ?? {}) as Record<string, any> }, ctx);
          return reply.code(route.status).send(out);
        },
      });
    }
  });
}
