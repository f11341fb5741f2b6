/**
 * Admin routes for users (create, list, get, update, disable/enable, credit);
 * their client keys are in admin-keys.ts.
 */
import type { User } from '../store/store.ts';
import { badInput, bool, idParams, int, micros, notFound, object, pageBody, pageOf, pageQuery, ref, str, type AdminContext, type AdminRoute } from './admin-schema.ts';
import { userView } from './admin-views.ts';

export async function userOr404(ctx: AdminContext, id: number, param = 'id'): Promise<User> {
  const user = await ctx.store.users.byId(id);
  if (user === undefined) throw notFound('user', id, param);
  return user;
}

async function setDisabled(ctx: AdminContext, id: number, disabled: boolean) {
  await userOr404(ctx, id);
  await ctx.store.users.setDisabled(id, disabled);
  // The poll clears the key cache ('user.disabled'), so the user's next request is refused.
  await ctx.applied();
  return userView(await userOr404(ctx, id), ctx.gw);
}

const USER = ref('User');

/** Users. */
export const USER_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST', url: '/admin/users', operationId: 'createUser', tag: 'users', status: 201, response: USER,
    summary: 'Create a user, optionally with an opening credit',
    body: object({ name: str(200, 'unique user name'), credit_micros: micros('opening balance') }, ['name']),
    async handler({ body }, ctx) {
      const user = await ctx.store.users.create({ name: body.name });
      if (body.credit_micros !== undefined && body.credit_micros !== 0) await ctx.store.users.credit(user.id, body.credit_micros);
      await ctx.applied();
      return userView((await ctx.store.users.byId(user.id))!, ctx.gw);
    },
  },
  {
    method: 'GET', url: '/admin/users', operationId: 'listUsers', tag: 'users', status: 200, response: pageOf(USER),
    summary: 'List users by id (oldest first unless order=desc), all at once or a page at a time (limit, then after=next_after)',
    querystring: object({ name: str(200, 'exact name'), disabled: bool('only disabled (true) or enabled (false) users'), ...pageQuery('the name') }),
    async handler({ query }, ctx) {
      if (query.name !== undefined) {
        const user = await ctx.store.users.byName(query.name);
        const match = user !== undefined && (query.disabled === undefined || user.disabled === query.disabled) && (query.search === undefined || user.name.toLowerCase().includes(query.search.toLowerCase()));
        return pageBody({ items: match ? [await userView(user, ctx.gw)] : [], hasMore: false }, (v) => v);
      }
      const page = await ctx.store.users.page({ search: query.search, disabled: query.disabled, after: query.after, limit: query.limit, order: query.order });
      return pageBody({ items: await Promise.all(page.items.map((u) => userView(u, ctx.gw))), hasMore: page.hasMore }, (v) => v);
    },
  },
  {
    method: 'GET', url: '/admin/users/:id', operationId: 'getUser', tag: 'users', status: 200, response: USER, notFound: true,
    summary: 'Get a user', params: idParams(),
    handler: async ({ params }, ctx) => userView(await userOr404(ctx, params.id), ctx.gw),
  },
  {
    method: 'PATCH', url: '/admin/users/:id', operationId: 'updateUser', tag: 'users', status: 200, response: USER, notFound: true,
    summary: 'Rename, disable or re-enable a user', params: idParams(),
    body: object({ name: str(200, 'new unique name'), disabled: bool() }, [], { minProperties: 1 }),
    async handler({ params, body }, ctx) {
      await userOr404(ctx, params.id);
      if (body.name !== undefined) await ctx.store.users.rename(params.id, body.name);
      if (body.disabled !== undefined) return setDisabled(ctx, params.id, body.disabled);
      return userView(await userOr404(ctx, params.id), ctx.gw);
    },
  },
  {
    method: 'POST', url: '/admin/users/:id/disable', operationId: 'disableUser', tag: 'users', status: 200, response: USER, notFound: true,
    summary: 'Disable a user: every key of theirs is refused from the next request on', params: idParams(),
    handler: ({ params }, ctx) => setDisabled(ctx, params.id, true),
  },
  {
    method: 'POST', url: '/admin/users/:id/enable', operationId: 'enableUser', tag: 'users', status: 200, response: USER, notFound: true,
    summary: 'Re-enable a user', params: idParams(),
    handler: ({ params }, ctx) => setDisabled(ctx, params.id, false),
  },
  {
    method: 'POST', url: '/admin/users/:id/credit', operationId: 'creditUser', tag: 'users', status: 200, response: USER, notFound: true,
    summary: 'Add credits to (or, with a negative amount, remove credits from) a balance', params: idParams(),
    body: object({ amount_micros: micros('amount to add; negative to remove') }, ['amount_micros']),
    async handler({ params, body }, ctx) {
      if (body.amount_micros === 0) throw badInput('amount_micros', "Invalid request body: 'amount_micros' must not be 0.");
      await ctx.store.users.credit(params.id, body.amount_micros);
      // The credit reaches this node's live ledger through the change feed,
      // exactly once (the ledger orders it against its own loads by event id).
      await ctx.applied();
      return userView(await userOr404(ctx, params.id), ctx.gw);
    },
  },
];
