/**
 * Admin route of the response cache (docs/cache.md): purge every stored
 * answer, here, in Redis and, over pub/sub, on every other node.
 */
import { AdminError, AdminErrors, type AdminRoute } from './admin-schema.ts';

export const CACHE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'DELETE', url: '/admin/cache', operationId: 'purgeResponseCache', tag: 'cache', status: 200, notFound: true,
    response: { type: 'object', required: ['object', 'purged'], properties: { object: { const: 'response_cache' }, purged: { type: 'integer', description: 'entries dropped on this node and in Redis' } } },
    summary: 'Purge the response cache on every node (404 when cache.enabled is false)',
    async handler(_input, ctx) {
      const cache = ctx.gw.responseCache;
      if (cache === null) throw new AdminError(AdminErrors.notFound, 'The response cache is off on this server (cache.enabled is false).', null);
      return { object: 'response_cache', purged: await cache.entries.clear() };
    },
  },
];
