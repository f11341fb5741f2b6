/**
 * Spend budgets (src/limiter/budget.ts): at most one per (scope, subject,
 * period), its mode and limit replaced by `set`. The gateway loads them all
 * at start and again on every 'budgets' change event.
 */
import type { Kysely, Selectable } from 'kysely';
import { BUDGET_MODES, BUDGET_PERIODS, BUDGET_SCOPES, type BudgetMode, type BudgetPeriod, type BudgetScope } from '../limiter/budget.ts';
import { appendChange } from './change-feed.ts';
import { StoreInputError } from './errors.ts';
import type { BudgetsTable, Database, Dialect } from './schema.ts';

/** A stored budget. */
export interface BudgetRow {
  id: number;
  scope: BudgetScope;
  /** The user id or key id. */
  subjectId: number;
  /** The user the budget belongs to: the subject, or the key's user. */
  userId: number;
  period: BudgetPeriod;
  mode: BudgetMode;
  limitMicros: number;
  createdAt: number;
}

/** Input of `BudgetRepo.set`. */
export interface BudgetInput {
  scope: BudgetScope;
  subjectId: number;
  period: BudgetPeriod;
  mode: BudgetMode;
  limitMicros: number;
}

/** Which budgets `list` returns; absent fields do not filter. */
export interface BudgetFilter {
  scope?: BudgetScope;
  subjectId?: number;
}

function toBudgetRow(row: Selectable<BudgetsTable>, keyUserId: number | null): BudgetRow {
  return {
    id: row.id,
    scope: row.scope as BudgetScope,
    subjectId: row.subject_id,
    userId: row.scope === 'user' ? row.subject_id : (keyUserId ?? 0),
    period: row.period as BudgetPeriod,
    mode: row.mode as BudgetMode,
    limitMicros: row.limit_micros,
    createdAt: row.created_at,
  };
}

function check(input: BudgetInput): void {
  if (!BUDGET_SCOPES.includes(input.scope)) throw new StoreInputError('invalid', `unknown budget scope "${input.scope}" (user or key)`);
  if (!BUDGET_PERIODS.includes(input.period)) throw new StoreInputError('invalid', `unknown budget period "${input.period}" (${BUDGET_PERIODS.join(', ')})`);
  if (!BUDGET_MODES.includes(input.mode)) throw new StoreInputError('invalid', `unknown budget mode "${input.mode}" (${BUDGET_MODES.join(' or ')})`);
  if (!Number.isSafeInteger(input.limitMicros) || input.limitMicros < 0) throw new StoreInputError('invalid', 'limitMicros must be a non-negative integer');
  if (!Number.isSafeInteger(input.subjectId) || input.subjectId <= 0) throw new StoreInputError('invalid', 'subjectId must be a positive integer');
}

/** Spend budgets. Every mutation appends 'budgets' with subject `${scope}:${subjectId}`. */
export class BudgetRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Creates or replaces the budget of (scope, subject, period); the subject must exist. */
  async set(input: BudgetInput): Promise<BudgetRow> {
    check(input);
    return this.#db.transaction().execute(async (trx) => {
      const subject = input.scope === 'user'
        ? await trx.selectFrom('users').select('id as userId').where('id', '=', input.subjectId).executeTakeFirst()
        : await trx.selectFrom('client_keys').select('user_id as userId').where('id', '=', input.subjectId).executeTakeFirst();
      if (subject === undefined) throw new StoreInputError('not_found', `no ${input.scope} with id ${input.subjectId}`);
      const row = await trx
        .insertInto('budgets')
        .values({ scope: input.scope, subject_id: input.subjectId, period: input.period, mode: input.mode, limit_micros: input.limitMicros, created_at: Date.now() })
        .onConflict((oc) =>
          oc.columns(['scope', 'subject_id', 'period']).doUpdateSet((eb) => ({ mode: eb.ref('excluded.mode'), limit_micros: eb.ref('excluded.limit_micros') })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendChange(trx, this.#dialect, 'budgets', `${input.scope}:${input.subjectId}`);
      return toBudgetRow(row, subject.userId);
    });
  }

  /** Removes a budget by id; false when there was none. */
  remove(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('budgets').where('id', '=', id).returning(['scope', 'subject_id']).executeTakeFirst();
      if (row === undefined) return false;
      await appendChange(trx, this.#dialect, 'budgets', `${row.scope}:${row.subject_id}`);
      return true;
    });
  }

  /** The budget of (scope, subject, period), if any. */
  async find(scope: BudgetScope, subjectId: number, period: BudgetPeriod): Promise<BudgetRow | undefined> {
    const row = await this.#withOwner().where('budgets.scope', '=', scope).where('budgets.subject_id', '=', subjectId).where('budgets.period', '=', period).executeTakeFirst();
    return row === undefined ? undefined : toBudgetRow(row, row.key_user_id);
  }

  /** Budgets by scope, subject and period length. */
  async list(filter: BudgetFilter = {}): Promise<BudgetRow[]> {
    let q = this.#withOwner();
    if (filter.scope !== undefined) q = q.where('budgets.scope', '=', filter.scope);
    if (filter.subjectId !== undefined) q = q.where('budgets.subject_id', '=', filter.subjectId);
    const rows = await q.orderBy('budgets.scope').orderBy('budgets.subject_id').orderBy('budgets.id').execute();
    const order = (p: string) => BUDGET_PERIODS.indexOf(p as BudgetPeriod);
    return rows.map((r) => toBudgetRow(r, r.key_user_id)).sort((a, b) => (a.scope === b.scope && a.subjectId === b.subjectId ? order(a.period) - order(b.period) : 0));
  }

  /** Budgets with the user of a key budget's key (null for user budgets). */
  #withOwner() {
    return this.#db
      .selectFrom('budgets')
      .leftJoin('client_keys', (join) => join.onRef('client_keys.id', '=', 'budgets.subject_id').on('budgets.scope', '=', 'key'))
      .selectAll('budgets')
      .select('client_keys.user_id as key_user_id');
  }
}
