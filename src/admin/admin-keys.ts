/**
 * Admin routes for client keys: create (the key is returned once), list by
 * prefix, get, change the rules (expiry, models, client addresses), revoke.
 */
import { displayPrefix, generateClientKey, hashClientKey } from '../keys/client-key.ts';
import { isCidr, parseExpiry } from '../keys/key-rules.ts';
import type { KeyRulesPatch } from '../store/store.ts';
import { AdminError, AdminErrors, badInput, bool, idParams, int, listOf, notFound, object, pageBody, pageOf, pageQuery, ref, str, type AdminContext, type AdminRoute, type JsonSchema } from './admin-schema.ts';
import { keyView } from './admin-views.ts';
import { userOr404 } from './admin-users.ts';

const KEY = ref('Key');

/** The rule fields of create and update; null (on update) lifts a rule. */
const RULE_FIELDS: Record<string, JsonSchema> = {
  expires_at: {
    type: ['integer', 'string', 'null'],
    description: 'when the key stops working: epoch milliseconds, an ISO-8601 date or time, or a duration from now (12h, 30d, 2w; units s m h d w); null: never',
  },
  models: { type: ['array', 'null'], items: str(200), minItems: 1, maxItems: 1000, uniqueItems: true, description: 'the only models the key may use; null: every model' },
  ips: { type: ['array', 'null'], items: str(64), minItems: 1, maxItems: 1000, uniqueItems: true, description: 'CIDRs (IPv4 or IPv6, e.g. 10.0.0.0/8, ::1/128) the key may be used from; null: any address' },
  cache: { type: 'boolean', description: "the key's model requests use the response cache without asking (docs/cache.md); a request can still send x-tollgate-cache: skip" },
};

/** The rules a body gives, checked beyond its schema; a bad value is a 400 naming the field. */
function rulesOf(body: Record<string, any>, now: number): KeyRulesPatch {
  const rules: KeyRulesPatch = {};
  const expires = body.expires_at as number | string | null | undefined;
  if (expires !== undefined) rules.expiresAt = expires === null ? null : expiryOf(expires, now);
  if (body.models !== undefined) rules.models = body.models;
  if (body.cache !== undefined) rules.cache = body.cache;
  if (body.ips !== undefined) {
    const bad = (body.ips as string[] | null)?.findIndex((c) => !isCidr(c)) ?? -1;
    if (bad !== -1) throw badInput(`ips.${bad}`, `Invalid request body: 'ips.${bad}' ('${body.ips[bad]}') is not a CIDR such as 10.0.0.0/8 or ::1/128.`);
    rules.ips = body.ips === null ? null : body.ips.map((c: string) => c.trim());
  }
  return rules;
}

function expiryOf(value: number | string, now: number): number {
  const at = typeof value === 'number' ? value : parseExpiry(value, now);
  if (at === null || !Number.isSafeInteger(at)) {
    throw badInput('expires_at', "Invalid request body: 'expires_at' must be epoch milliseconds, an ISO-8601 date or time, or a duration such as 12h, 30d or 2w.");
  }
  if (at <= now) throw badInput('expires_at', "Invalid request body: 'expires_at' must be in the future (to stop a key now, revoke it).");
  return at;
}

/** Client keys. */
export const KEY_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST', url: '/admin/keys', operationId: 'createKey', tag: 'keys', status: 201, response: ref('CreatedKey'),
    summary: 'Create a client key, optionally with an expiry, a model allow-list and a client address allow-list; the response is the only time the key is shown',
    body: object({ user_id: int(1), name: { ...str(100, 'a label'), default: 'default' }, ...RULE_FIELDS }, ['user_id']),
    async handler({ body }, ctx) {
      const rules = rulesOf(body, Date.now());
      await userOr404(ctx, body.user_id, 'user_id');
      const secret = generateClientKey();
      const key = await ctx.store.keys.insert({ userId: body.user_id, name: body.name, keyHash: hashClientKey(secret), prefix: displayPrefix(secret), ...rules });
      return { ...keyView(key), key: secret };
    },
  },
  {
    method: 'GET', url: '/admin/keys', operationId: 'listKeys', tag: 'keys', status: 200, response: pageOf(KEY),
    summary: 'List keys (display prefix only, never the key or its hash) by id, all at once or a page at a time (limit, then after=next_after)',
    querystring: object({ user_id: int(1), prefix: str(64, 'keys whose display prefix starts with this'), revoked: bool(), ...pageQuery("the label, the display prefix or the owner's name") }),
    async handler({ query }, ctx) {
      const page = await ctx.store.keys.page({ userId: query.user_id, prefix: query.prefix, search: query.search, revoked: query.revoked, after: query.after, limit: query.limit, order: query.order });
      return pageBody(page, keyView);
    },
  },
  {
    method: 'GET', url: '/admin/keys/:id', operationId: 'getKey', tag: 'keys', status: 200, response: KEY, notFound: true,
    summary: 'Get a key (prefix only)', params: idParams(),
    handler: async ({ params }, ctx) => keyView(await keyOr404(ctx, params.id)),
  },
  {
    method: 'PATCH', url: '/admin/keys/:id', operationId: 'updateKey', tag: 'keys', status: 200, response: KEY, notFound: true,
    summary: "Change a key's expiry, model allow-list or client address allow-list (null lifts one); applies from the next request (409 when revoked)", params: idParams(),
    body: object(RULE_FIELDS, [], { minProperties: 1 }),
    async handler({ params, body }, ctx) {
      const rules = rulesOf(body, Date.now());
      const key = await keyOr404(ctx, params.id);
      const updated = key.revokedAt === null ? await ctx.store.keys.update(params.id, rules) : undefined;
      if (updated === undefined) throw new AdminError(AdminErrors.conflict, `The key with id ${params.id} is revoked; its rules cannot change.`, 'id');
      // Forget it here at once; the change feed does the same on every other node.
      ctx.gw.keys.forget(key.keyHash);
      await ctx.applied();
      return keyView(updated);
    },
  },
  {
    method: 'POST', url: '/admin/keys/:id/revoke', operationId: 'revokeKey', tag: 'keys', status: 200, response: KEY, notFound: true,
    summary: 'Revoke a key: refused from the very next request (409 when already revoked)', params: idParams(),
    async handler({ params }, ctx) {
      const key = await keyOr404(ctx, params.id);
      if (key.revokedAt !== null || !(await ctx.store.keys.revoke(params.id))) {
        throw new AdminError(AdminErrors.conflict, `The key with id ${params.id} is already revoked.`, 'id');
      }
      // Forget it here at once; the change feed does the same on every other node.
      ctx.gw.keys.forget(key.keyHash);
      await ctx.applied();
      return keyView((await ctx.store.keys.byId(params.id))!);
    },
  },
];

async function keyOr404(ctx: AdminContext, id: number) {
  const key = await ctx.store.keys.byId(id);
  if (key === undefined) throw notFound('key', id);
  return key;
}
