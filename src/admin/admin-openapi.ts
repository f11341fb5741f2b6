/**
 * The OpenAPI 3.1 document of the admin API, assembled from the same route
 * descriptors that register the routes and validate their input, so it
 * cannot omit a route or disagree with the validation.
 */
import type { AdminRoute, JsonSchema } from './admin-schema.ts';
import { VIEW_SCHEMAS } from './admin-views.ts';
import { PROXY_SCHEMAS } from './admin-proxies.ts';
import { BUDGET_SCHEMAS } from './admin-budgets.ts';

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

/** Fastify's `/admin/users/:id` → OpenAPI's `/admin/users/{id}`. */
export const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

function parameters(route: AdminRoute): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [['path', route.params], ['query', route.querystring]] as const) {
    if (schema === undefined) continue;
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, s] of Object.entries(props)) {
      const { description, ...rest } = s;
      out.push({ name, in: where, required: where === 'path' || required.has(name), schema: rest, ...(description ? { description } : {}) });
    }
  }
  return out;
}

function operation(route: AdminRoute): JsonSchema {
  const responses: Record<string, unknown> = {
    [route.status]: { description: route.status === 201 ? 'Created' : 'OK', content: { 'application/json': { schema: route.response } } },
    401: errorResponse('Missing or wrong admin token'),
    403: errorResponse('Admin API disabled (no TOLLGATE_ADMIN_TOKEN)'),
  };
  if (route.body !== undefined || route.querystring !== undefined || route.params !== undefined) responses[400] = errorResponse('Invalid input; `error.param` names the field');
  if (route.notFound === true || route.params !== undefined) responses[404] = errorResponse('Unknown id');
  if (route.method !== 'GET') responses[409] = errorResponse('Conflicts with the current state (a taken name, an already revoked key)');
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    parameters: parameters(route),
    ...(route.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: route.body } } } }),
    responses,
  };
}

/** Builds the document for `routes` (plus the document's own route). */
export function buildOpenApi(routes: readonly AdminRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.url);
    (paths[path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate admin API',
      version,
      description: 'Operator API: users, keys, channels, outbound proxies, prices, limits, spend budgets and usage. Money is integer micro-credits (1 credit = 1,000,000); times are epoch milliseconds. Changes apply to the serving node before the response and reach other nodes through the change feed.',
    },
    security: [{ adminToken: [] }],
    paths,
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'TOLLGATE_ADMIN_TOKEN' } },
      schemas: { ...VIEW_SCHEMAS, ...PROXY_SCHEMAS, ...BUDGET_SCHEMAS },
    },
  };
}
