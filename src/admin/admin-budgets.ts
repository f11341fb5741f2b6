/**
 * Admin routes for spend budgets (src/limiter/budget.ts): one per (scope,
 * subject, period), set by an upsert and deleted by id. Lists show what each
 * budget has spent in its current period as this node's limiter counts it
 * (with Redis: what every node together has spent).
 */
import { BUDGET_MODES, BUDGET_PERIODS, BUDGET_SCOPES, budgetPolicy, type BudgetUsage } from '../limiter/budget.ts';
import type { Limiter } from '../limiter/limiter.ts';
import type { BudgetRow } from '../store/store.ts';
import { idParams, int, listOf, object, notFound, ref, type AdminRoute, type JsonSchema } from './admin-schema.ts';

/** A budget as the admin API (and the account API) shows it. */
export interface BudgetView {
  object: 'budget';
  id: number;
  scope: BudgetRow['scope'];
  subject_id: number;
  /** The user the budget belongs to (the key's user for a key budget). */
  user_id: number;
  period: BudgetRow['period'];
  mode: BudgetRow['mode'];
  limit_micros: number;
  /** Spent and held by requests in flight in the current period. */
  spent_micros: number;
  remaining_micros: number;
  /** Epoch ms: end of the current calendar period, or when the oldest rolling spend rolls out (null: nothing spent). */
  resets_at: number | null;
  created_at: number;
}

/** The budgets with what each has spent, in one limiter read. */
export async function budgetViews(limiter: Limiter, rows: readonly BudgetRow[]): Promise<BudgetView[]> {
  const usage: BudgetUsage[] = await limiter.budgetUsage(rows.map((b) => budgetPolicy(b.scope, String(b.subjectId), b.period, b.mode, b.limitMicros, b.userId)));
  return rows.map((b, i) => ({
    object: 'budget', id: b.id, scope: b.scope, subject_id: b.subjectId, user_id: b.userId, period: b.period, mode: b.mode, limit_micros: b.limitMicros,
    spent_micros: usage[i].spentMicros, remaining_micros: Math.max(0, b.limitMicros - usage[i].spentMicros), resets_at: usage[i].resetAtMs, created_at: b.createdAt,
  }));
}

const I = { type: 'integer' } as const;
const SCOPE = { type: 'string', enum: BUDGET_SCOPES } as const;
const PERIOD = { type: 'string', enum: BUDGET_PERIODS } as const;
const MODE = { type: 'string', enum: BUDGET_MODES } as const;

export const BUDGET_SCHEMAS: Record<string, JsonSchema> = {
  Budget: {
    type: 'object',
    properties: {
      object: { const: 'budget' }, id: I, scope: SCOPE, subject_id: I, user_id: I, period: PERIOD, mode: MODE, limit_micros: I,
      spent_micros: I, remaining_micros: I, resets_at: { type: ['integer', 'null'] }, created_at: I,
    },
    required: ['object', 'id', 'scope', 'subject_id', 'user_id', 'period', 'mode', 'limit_micros', 'spent_micros', 'remaining_micros', 'resets_at', 'created_at'],
  },
};

/** Spend budgets. */
export const BUDGET_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/budgets', operationId: 'listBudgets', tag: 'budgets', status: 200, response: listOf(ref('Budget')),
    summary: 'List spend budgets with what each has spent in its current period',
    querystring: object({ scope: SCOPE, subject_id: int(1) }),
    async handler({ query }, ctx) {
      const rows = await ctx.store.budgets.list({ scope: query.scope, subjectId: query.subject_id });
      return { object: 'list', data: await budgetViews(ctx.gw.limiter, rows) };
    },
  },
  {
    method: 'PUT', url: '/admin/budgets', operationId: 'setBudget', tag: 'budgets', status: 200, response: ref('Budget'),
    summary: 'Create or replace the budget of a user or key for one period length (what `tollgate budget set` does)',
    body: object({
      scope: SCOPE,
      subject_id: int(1, Number.MAX_SAFE_INTEGER, 'the user id or key id'),
      period: PERIOD,
      mode: { ...MODE, default: 'calendar', description: "calendar: the period restarts at wall-clock boundaries of budgets.timeZone; rolling: the last hour / 24 h / 7 days / 30 days" },
      limit_micros: int(0, Number.MAX_SAFE_INTEGER, 'micro-credits that may be spent per period (0 blocks every priced request)'),
    }, ['scope', 'subject_id', 'period', 'limit_micros']),
    async handler({ body }, ctx) {
      const row = await ctx.store.budgets.set({ scope: body.scope, subjectId: body.subject_id, period: body.period, mode: body.mode, limitMicros: body.limit_micros });
      await ctx.applied();
      return (await budgetViews(ctx.gw.limiter, [row]))[0];
    },
  },
  {
    method: 'DELETE', url: '/admin/budgets/:id', operationId: 'deleteBudget', tag: 'budgets', status: 200, response: ref('Deleted'), notFound: true,
    summary: 'Remove a spend budget', params: idParams(),
    async handler({ params }, ctx) {
      if (!(await ctx.store.budgets.remove(params.id))) throw notFound('budget', params.id);
      await ctx.applied();
      return { object: 'budget', id: params.id, deleted: true };
    },
  },
];
