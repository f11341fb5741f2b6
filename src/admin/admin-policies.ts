/**
 * Admin routes for prices and rate-limit policies. Both are upserts keyed by
 * what they apply to ((model, channel) and (scope, subject)), and deletable
 * by id. Changes reach this node's price book / policy book before the reply.
 */
import { StoreInputError, type LimitRowScope } from '../store/store.ts';
import { badInput, bool, idParams, int, listOf, nullableInt, object, notFound, ref, str, type AdminContext, type AdminRoute } from './admin-schema.ts';
import { limitView, priceView } from './admin-views.ts';

const SCOPES: LimitRowScope[] = ['global', 'user', 'key', 'model', 'user_model'];
const deleted = (object: string, id: number) => ({ object, id, deleted: true });

const LIMIT_AXES = ['rpm', 'tpm', 'concurrency'] as const;
const LIMIT_BODY = object({
  scope: { type: 'string', enum: SCOPES },
  subject: { type: 'string', maxLength: 300, default: '', description: "'' (global), a user id, a key id, a model, or '<userId>:<model>' (user_model)" },
  rpm: nullableInt(0, 'requests per minute; null: unlimited'),
  tpm: nullableInt(0, 'tokens per minute; null: unlimited'),
  concurrency: nullableInt(0, 'requests in flight; null: unlimited'),
}, ['scope']);

/**
 * Checks a policy subject against its scope: '' for global, a user id, a key
 * id, a model name, or `<userId>:<model>`. Ids must exist (404 otherwise).
 */
async function checkSubject(ctx: AdminContext, scope: LimitRowScope, subject: string): Promise<void> {
  const bad = (what: string) => badInput('subject', `Invalid request body: a ${scope} limit needs 'subject' = ${what}.`);
  switch (scope) {
    case 'global':
      if (subject !== '') throw badInput('subject', "Invalid request body: a global limit has no 'subject'.");
      return;
    case 'model':
      if (subject === '') throw bad('a model name');
      return;
    case 'user':
    case 'key': {
      if (!/^[1-9]\d{0,15}$/.test(subject)) throw bad(`a ${scope} id`);
      const id = Number(subject);
      const found = scope === 'user' ? await ctx.store.users.byId(id) : await ctx.store.keys.byId(id);
      if (found === undefined) throw notFound(scope, id, 'subject');
      return;
    }
    case 'user_model': {
      const m = /^([1-9]\d{0,15}):(.+)$/.exec(subject);
      if (m === null) throw bad("'<userId>:<model>'");
      if ((await ctx.store.users.byId(Number(m[1]))) === undefined) throw notFound('user', m[1], 'subject');
    }
  }
}

/** Prices and limit policies. */
export const POLICY_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/prices', operationId: 'listPrices', tag: 'prices', status: 200, response: listOf(ref('Price')),
    summary: 'List prices (micro-credits per 1M tokens)',
    querystring: object({ model: str(200) }),
    async handler({ query }, ctx) {
      const prices = (await ctx.store.prices.list()).filter((p) => query.model === undefined || p.model === query.model);
      return { object: 'list', data: prices.map(priceView) };
    },
  },
  {
    method: 'PUT', url: '/admin/prices', operationId: 'setPrice', tag: 'prices', status: 200, response: ref('Price'),
    summary: 'Create or replace the price of a model (on every channel, or on one)',
    body: object({
      model: str(200),
      channel_id: { type: ['integer', 'null'], minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'null or absent: any channel without its own price' },
      input_micros_per_mtok: int(0, Number.MAX_SAFE_INTEGER, 'micro-credits per 1M prompt tokens'),
      output_micros_per_mtok: int(0, Number.MAX_SAFE_INTEGER, 'micro-credits per 1M completion tokens'),
      cached_input_micros_per_mtok: nullableInt(0, 'micro-credits per 1M prompt tokens read from the prompt cache (null or absent: the input price)'),
      cache_write_micros_per_mtok: nullableInt(0, 'micro-credits per 1M prompt tokens written to the prompt cache (null or absent: the input price)'),
      reasoning_micros_per_mtok: nullableInt(0, 'micro-credits per 1M reasoning tokens (null or absent: the output price)'),
      free: { ...bool('serve the model at no charge'), default: false },
    }, ['model']),
    async handler({ body }, ctx) {
      if (!body.free) {
        for (const field of ['input_micros_per_mtok', 'output_micros_per_mtok']) {
          if (body[field] === undefined) throw badInput(field, `Invalid request body: missing required field '${field}' (or set 'free': true).`);
        }
      }
      const price = await ctx.store.prices.set({
        model: body.model,
        channelId: body.channel_id ?? null,
        inputMicrosPerMTok: body.input_micros_per_mtok ?? 0,
        outputMicrosPerMTok: body.output_micros_per_mtok ?? 0,
        cachedInputMicrosPerMTok: body.cached_input_micros_per_mtok ?? null,
        cacheWriteMicrosPerMTok: body.cache_write_micros_per_mtok ?? null,
        reasoningMicrosPerMTok: body.reasoning_micros_per_mtok ?? null,
        free: body.free,
      }).catch((err: unknown) => {
        if (err instanceof StoreInputError && err.code === 'not_found') throw notFound('channel', body.channel_id, 'channel_id');
        throw err;
      });
      await ctx.applied();
      return priceView(price);
    },
  },
  {
    method: 'DELETE', url: '/admin/prices/:id', operationId: 'deletePrice', tag: 'prices', status: 200, response: ref('Deleted'), notFound: true,
    summary: 'Remove a price (the model becomes unpriced unless another price covers it)', params: idParams(),
    async handler({ params }, ctx) {
      const price = (await ctx.store.prices.list()).find((p) => p.id === params.id);
      if (price === undefined || !(await ctx.store.prices.remove(price.model, price.channelId))) throw notFound('price', params.id);
      await ctx.applied();
      return deleted('price', params.id);
    },
  },

  {
    method: 'GET', url: '/admin/limits', operationId: 'listLimits', tag: 'limits', status: 200, response: listOf(ref('LimitPolicy')),
    summary: 'List rate-limit policies',
    querystring: object({ scope: { type: 'string', enum: SCOPES } }),
    async handler({ query }, ctx) {
      const policies = (await ctx.store.limits.list()).filter((p) => query.scope === undefined || p.scope === query.scope);
      return { object: 'list', data: policies.map(limitView) };
    },
  },
  {
    method: 'PUT', url: '/admin/limits', operationId: 'setLimit', tag: 'limits', status: 200, response: ref('LimitPolicy'),
    summary: 'Create or replace the whole policy of a scope: null or absent limits become unlimited (PATCH changes only the limits given)',
    body: LIMIT_BODY,
    async handler({ body }, ctx) {
      await checkSubject(ctx, body.scope, body.subject);
      const policy = await ctx.store.limits.set({ scope: body.scope, subject: body.subject, rpm: body.rpm ?? null, tpm: body.tpm ?? null, concurrency: body.concurrency ?? null });
      await ctx.applied();
      return limitView(policy);
    },
  },
  {
    method: 'PATCH', url: '/admin/limits', operationId: 'updateLimit', tag: 'limits', status: 200, response: ref('LimitPolicy'),
    summary: 'Change only the limits given (null lifts one, absent keeps it), creating the policy of the scope if needed; what `tollgate limit set` does',
    body: LIMIT_BODY,
    async handler({ body }, ctx) {
      if (!LIMIT_AXES.some((axis) => body[axis] !== undefined)) throw badInput('rpm', 'Invalid request body: give at least one of rpm, tpm, concurrency (DELETE /admin/limits/{id} removes a policy).');
      await checkSubject(ctx, body.scope, body.subject);
      const policy = await ctx.store.limits.patch({ scope: body.scope, subject: body.subject, rpm: body.rpm, tpm: body.tpm, concurrency: body.concurrency });
      await ctx.applied();
      return limitView(policy);
    },
  },
  {
    method: 'DELETE', url: '/admin/limits/:id', operationId: 'deleteLimit', tag: 'limits', status: 200, response: ref('Deleted'), notFound: true,
    summary: 'Remove a rate-limit policy', params: idParams(),
    async handler({ params }, ctx) {
      const policy = (await ctx.store.limits.list()).find((p) => p.id === params.id);
      if (policy === undefined || !(await ctx.store.limits.remove(policy.scope, policy.subject))) throw notFound('limit policy', params.id);
      await ctx.applied();
      return deleted('limit_policy', params.id);
    },
  },
];
