/**
 * The usage log: one record per request that reached an upstream (or was
 * refused), written in batches by the gateway's log writer, and read back
 * page by page by the account API and the dashboard.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { StoreInputError } from './errors.ts';
import type { Database, Dialect } from './schema.ts';
import { decodeUsageCursor, encodeUsageCursor } from './usage-cursor.ts';
import type { SqliteUsageBatch } from './sqlite-usage-batch.ts';
import { USAGE_COLUMNS, usageRecordFromRow, usageRow, type UsageRecord, type UsageRecordInsert } from './usage-columns.ts';
import { TotalsAccumulator } from './usage-totals.ts';
import { aggregateUsage, type UsageAggregateQuery, type UsageBucket } from './usage-stats.ts';


/** Outcome of `UsageRepo.applyBatch`. */
export interface ApplyBatchResult {
  /** Records newly stored (replayed ones are not counted). */
  inserted: number;
  /** Balance change applied per user (negative: debited), for newly stored records only. */
  balanceDeltas: Map<number, number>;
  /** The user's debit_seq after this batch's debit, for each user whose balance it changed. */
  debitSeqs: Map<number, number>;
}

/** Filters and position of `UsageRepo.page`. */
export interface UsagePageQuery {
  userId?: number;
  keyId?: number;
  model?: string;
  channelId?: number;
  status?: number;
  /** Inclusive lower bound on ts (epoch ms). */
  from?: number;
  /** Exclusive upper bound on ts (epoch ms). */
  to?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** 1..1000. */
  limit: number;
}

/** One page of usage records. */
export interface UsagePage {
  records: UsageRecord[];
  /** Absent on the last page. */
  nextCursor?: string;
}

/** Filters of `UsageRepo.totals` (`from` inclusive, `to` exclusive). */
export interface UsageTotalsQuery {
  userId?: number;
  model?: string;
  from?: number;
  to?: number;
}

/** Sums over matching usage records. */
export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Parts of promptTokens read from / written to the prompt cache, and of completionTokens spent on reasoning. */
  cachedTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
}

// SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32766 (since 3.32);
// PostgreSQL's wire protocol allows 65535 parameters per statement.
const MAX_VARS: Record<Dialect, number> = { sqlite: 32766, postgres: 65535 };
const MAX_PAGE = 1000;

/**
 * The sums behind UsageTotals, over usage_records or usage_totals (same column
 * names). SUM over bigint is numeric on PostgreSQL (a string through pg); the
 * casts bring it back to int8, which the pool parses to a number.
 */
function totalsColumns(requests: RawBuilder<unknown>) {
  return [
    sql<number>`cast(${requests} as bigint)`.as('requests'),
    sql<number>`cast(coalesce(sum(prompt_tokens), 0) as bigint)`.as('prompt_tokens'),
    sql<number>`cast(coalesce(sum(completion_tokens), 0) as bigint)`.as('completion_tokens'),
    sql<number>`cast(coalesce(sum(cached_tokens), 0) as bigint)`.as('cached_tokens'),
    sql<number>`cast(coalesce(sum(cache_write_tokens), 0) as bigint)`.as('cache_write_tokens'),
    sql<number>`cast(coalesce(sum(reasoning_tokens), 0) as bigint)`.as('reasoning_tokens'),
    sql<number>`cast(coalesce(sum(cost_micros), 0) as bigint)`.as('cost_micros'),
  ];
}

function toTotals(row: Record<'requests' | 'prompt_tokens' | 'completion_tokens' | 'cached_tokens' | 'cache_write_tokens' | 'reasoning_tokens' | 'cost_micros', number>): UsageTotals {
  return {
    requests: row.requests, promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens,
    cachedTokens: row.cached_tokens, cacheWriteTokens: row.cache_write_tokens, reasoningTokens: row.reasoning_tokens, costMicros: row.cost_micros,
  };
}

function checkOptionalInt(name: string, v: number | undefined): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new StoreInputError('invalid', `${name} must be an integer`);
}

/** Usage records and the balance settlement that goes with them. */
/** The owner of a stored Responses API object (see responseOwner). */
export interface ResponseOwner {
  userId: number;
  keyId: number;
  channelId: number;
  channelKeyId: number | null;
}

export class UsageRepo {
  readonly #db: Kysely<Database>;
  readonly #chunkRows: number;
  readonly #sqliteBatch: SqliteUsageBatch | null;

  /** `sqliteBatch`: the prepared-statement fast path, on SQLite. */
  constructor(db: Kysely<Database>, dialect: Dialect, sqliteBatch: SqliteUsageBatch | null = null) {
    this.#db = db;
    this.#chunkRows = Math.floor(MAX_VARS[dialect] / USAGE_COLUMNS.length);
    this.#sqliteBatch = sqliteBatch;
  }

  /**
   * Stores a batch and debits each user by the cost of their records, in ONE
   * transaction. Idempotent: records whose request_id is already stored are
   * skipped (ON CONFLICT DO NOTHING) and, because the debit is summed from
   * the rows the INSERT actually returned, they debit nothing either. So a
   * spooled batch can be replayed after a crash without double billing.
   */
  async applyBatch(records: readonly UsageRecordInsert[]): Promise<ApplyBatchResult> {
    const balanceDeltas = new Map<number, number>();
    const debitSeqs = new Map<number, number>();
    if (records.length === 0) return { inserted: 0, balanceDeltas, debitSeqs };
    for (const r of records) {
      // A float would be stored as REAL by SQLite and corrupt the balance.
      if (!Number.isSafeInteger(r.costMicros)) {
        throw new StoreInputError('invalid', `usage record ${r.requestId}: costMicros must be an integer`);
      }
    }
    if (this.#sqliteBatch?.usable) return this.#sqliteBatch.apply(records);
    const totals = new TotalsAccumulator();
    const inserted = await this.#db.transaction().execute(async (trx) => {
      let count = 0;
      for (let i = 0; i < records.length; i += this.#chunkRows) {
        const chunk = records.slice(i, i + this.#chunkRows);
        const rows = await trx
          .insertInto('usage_records')
          .values(chunk.map(usageRow))
          .onConflict((oc) => oc.column('request_id').doNothing())
          .returning(['user_id', 'cost_micros', 'model', 'ts', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cache_write_tokens', 'reasoning_tokens'])
          .execute();
        count += rows.length;
        for (const row of rows) {
          balanceDeltas.set(row.user_id, (balanceDeltas.get(row.user_id) ?? 0) - row.cost_micros);
          totals.add({
            userId: row.user_id, model: row.model, ts: row.ts, promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens,
            cachedTokens: row.cached_tokens, cacheWriteTokens: row.cache_write_tokens, reasoningTokens: row.reasoning_tokens, costMicros: row.cost_micros,
          });
        }
      }
      for (const t of totals.deltas()) {
        await trx
          .insertInto('usage_totals')
          .values({
            user_id: t.userId, model: t.model, day: t.day, requests: t.requests, prompt_tokens: t.promptTokens, completion_tokens: t.completionTokens,
            cached_tokens: t.cachedTokens, cache_write_tokens: t.cacheWriteTokens, reasoning_tokens: t.reasoningTokens, cost_micros: t.costMicros,
          })
          .onConflict((oc) => oc.columns(['user_id', 'model', 'day']).doUpdateSet((eb) => ({
            requests: eb('usage_totals.requests', '+', eb.ref('excluded.requests')),
            prompt_tokens: eb('usage_totals.prompt_tokens', '+', eb.ref('excluded.prompt_tokens')),
            completion_tokens: eb('usage_totals.completion_tokens', '+', eb.ref('excluded.completion_tokens')),
            cached_tokens: eb('usage_totals.cached_tokens', '+', eb.ref('excluded.cached_tokens')),
            cache_write_tokens: eb('usage_totals.cache_write_tokens', '+', eb.ref('excluded.cache_write_tokens')),
            reasoning_tokens: eb('usage_totals.reasoning_tokens', '+', eb.ref('excluded.reasoning_tokens')),
            cost_micros: eb('usage_totals.cost_micros', '+', eb.ref('excluded.cost_micros')),
          })))
          .execute();
      }
      // Ascending user order: two concurrent batches (two gateway nodes on
      // PostgreSQL) lock user rows in the same order and cannot deadlock.
      const userIds = [...balanceDeltas.keys()].sort((a, b) => a - b);
      for (const userId of userIds) {
        const delta = balanceDeltas.get(userId)!;
        if (delta === 0) continue;
        const row = await trx
          .updateTable('users')
          .set((eb) => ({ balance_micros: eb('balance_micros', '+', delta), debit_seq: eb('debit_seq', '+', 1) }))
          .where('id', '=', userId)
          .returning('debit_seq')
          .executeTakeFirst();
        if (row !== undefined) debitSeqs.set(userId, row.debit_seq);
      }
      return count;
    });
    return { inserted, balanceDeltas, debitSeqs };
  }

  /**
   * One page of records, newest first (by ts, then id). Filters combine with
   * AND; `from` is inclusive and `to` exclusive. A malformed cursor or limit
   * is a `StoreInputError('invalid')`.
   */
  async page(q: UsagePageQuery): Promise<UsagePage> {
    if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE) {
      throw new StoreInputError('invalid', `limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    checkOptionalInt('userId', q.userId);
    checkOptionalInt('keyId', q.keyId);
    checkOptionalInt('channelId', q.channelId);
    checkOptionalInt('status', q.status);
    checkOptionalInt('from', q.from);
    checkOptionalInt('to', q.to);
    const after = q.cursor === undefined ? undefined : decodeUsageCursor(q.cursor);

    let query = this.#db.selectFrom('usage_records').selectAll();
    if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
    if (q.keyId !== undefined) query = query.where('key_id', '=', q.keyId);
    if (q.model !== undefined) query = query.where('model', '=', q.model);
    if (q.channelId !== undefined) query = query.where('channel_id', '=', q.channelId);
    if (q.status !== undefined) query = query.where('status', '=', q.status);
    if (q.from !== undefined) query = query.where('ts', '>=', q.from);
    if (q.to !== undefined) query = query.where('ts', '<', q.to);
    if (after !== undefined) {
      // Row-value comparison: both dialects use it as one index range on (…, ts, id).
      query = query.where((eb) => eb(eb.refTuple('ts', 'id'), '<', eb.tuple(after.ts, after.id)));
    }
    // One extra row tells whether another page exists without a COUNT.
    const rows = await query
      .orderBy('ts', 'desc')
      .orderBy('id', 'desc')
      .limit(q.limit + 1)
      .execute();
    if (rows.length <= q.limit) return { records: rows.map(usageRecordFromRow) };
    rows.length = q.limit;
    const last = rows[rows.length - 1];
    return { records: rows.map(usageRecordFromRow), nextCursor: encodeUsageCursor(last.ts, last.id) };
  }

  /** Sums over the matching records (all zero when none). */
  async totals(q: UsageTotalsQuery): Promise<UsageTotals> {
    checkOptionalInt('userId', q.userId);
    checkOptionalInt('from', q.from);
    checkOptionalInt('to', q.to);
    if (q.from === undefined && q.to === undefined) return this.#allTimeTotals(q);
    let query = this.#db
      .selectFrom('usage_records')
      .select(totalsColumns(sql`count(*)`));
    if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
    if (q.model !== undefined) query = query.where('model', '=', q.model);
    if (q.from !== undefined) query = query.where('ts', '>=', q.from);
    if (q.to !== undefined) query = query.where('ts', '<', q.to);
    return toTotals(await query.executeTakeFirstOrThrow());
  }

  /** Totals over all time from the running totals table: a sum over days, not over records. */
  async #allTimeTotals(q: UsageTotalsQuery): Promise<UsageTotals> {
    let query = this.#db
      .selectFrom('usage_totals')
      .select(totalsColumns(sql`coalesce(sum(requests), 0)`));
    if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
    if (q.model !== undefined) query = query.where('model', '=', q.model);
    return toTotals(await query.executeTakeFirstOrThrow());
  }

  /** Requests, tokens, cost and errors grouped by UTC day/hour, model or user (see usage-stats.ts). */
  aggregate(q: UsageAggregateQuery): Promise<UsageBucket[]> {
    return aggregateUsage(this.#db, q);
  }

  /** Who created the Responses API object `responseId`, and through which channel and key; undefined when no record names it. */
  async responseOwner(responseId: string): Promise<ResponseOwner | undefined> {
    const row = await this.#db
      .selectFrom('usage_records')
      .select(['user_id', 'key_id', 'channel_id', 'channel_key_id'])
      .where('response_id', '=', responseId)
      .limit(1)
      .executeTakeFirst();
    if (row === undefined || row.channel_id === null) return undefined;
    return { userId: row.user_id, keyId: row.key_id, channelId: row.channel_id, channelKeyId: row.channel_key_id };
  }

  /** Number of stored records. */
  async count(): Promise<number> {
    const row = await this.#db
      .selectFrom('usage_records')
      .select(sql<number>`cast(count(*) as bigint)`.as('n'))
      .executeTakeFirstOrThrow();
    return row.n;
  }
}
