/**
 * Usage aggregates for operators: requests, tokens, cost and errors grouped
 * by UTC day, UTC hour, model or user. One SQL text serves both dialects:
 * time buckets are computed with integer arithmetic on the epoch-ms column
 * (`ts - ts % 3600000`) instead of each dialect's date functions, and the
 * group/order use the select-list ordinal, which SQLite and PostgreSQL both
 * accept.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { StoreInputError } from './errors.ts';
import type { Database } from './schema.ts';

/** What `UsageRepo.aggregate` groups by. */
export type UsageGroupBy = 'day' | 'hour' | 'model' | 'user';

/** Grouping and filters of `UsageRepo.aggregate` (`from` inclusive, `to` exclusive, epoch ms). */
export interface UsageAggregateQuery {
  groupBy: UsageGroupBy;
  from?: number;
  to?: number;
  userId?: number;
  model?: string;
}

/** One group. */
export interface UsageBucket {
  /** Start of the UTC day/hour (epoch ms), the model name, or the user id. */
  key: number | string;
  requests: number;
  /** Records with status ≥ 400. */
  errors: number;
  promptTokens: number;
  completionTokens: number;
  /** Parts of the prompt read from / written to the prompt cache, and of the completion spent on reasoning. */
  cachedTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costMicros: number;
  /** Mean latency, rounded to whole ms. */
  avgLatencyMs: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Upper bound on returned groups (a year of hours is 8,760). */
const MAX_GROUPS = 10_000;

function groupKey(by: UsageGroupBy): RawBuilder<number | string> {
  switch (by) {
    // Literals, not bound parameters: PostgreSQL must see the select-list
    // expression as one constant expression to type it as bigint.
    case 'day': return sql<number>`ts - ts % ${sql.lit(DAY_MS)}`;
    case 'hour': return sql<number>`ts - ts % ${sql.lit(HOUR_MS)}`;
    case 'model': return sql<string>`model`;
    case 'user': return sql<number>`user_id`;
  }
}

function checkOptionalInt(name: string, v: number | undefined): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new StoreInputError('invalid', `${name} must be an integer`);
}

/**
 * Aggregates matching usage records. Time groups come oldest first; model
 * and user groups by cost, highest first. At most 10,000 groups.
 */
export async function aggregateUsage(db: Kysely<Database>, q: UsageAggregateQuery): Promise<UsageBucket[]> {
  if (!['day', 'hour', 'model', 'user'].includes(q.groupBy)) throw new StoreInputError('invalid', `unknown groupBy "${String(q.groupBy)}"`);
  checkOptionalInt('from', q.from);
  checkOptionalInt('to', q.to);
  checkOptionalInt('userId', q.userId);
  const byTime = q.groupBy === 'day' || q.groupBy === 'hour';
  let query = db
    .selectFrom('usage_records')
    // SUM over bigint is numeric on PostgreSQL (a string through pg); the
    // casts bring every total back to int8, which the pool parses to a number.
    .select([
      groupKey(q.groupBy).as('key'),
      sql<number>`cast(count(*) as bigint)`.as('requests'),
      sql<number>`cast(coalesce(sum(case when status >= 400 then 1 else 0 end), 0) as bigint)`.as('errors'),
      sql<number>`cast(coalesce(sum(prompt_tokens), 0) as bigint)`.as('prompt_tokens'),
      sql<number>`cast(coalesce(sum(completion_tokens), 0) as bigint)`.as('completion_tokens'),
      sql<number>`cast(coalesce(sum(cached_tokens), 0) as bigint)`.as('cached_tokens'),
      sql<number>`cast(coalesce(sum(cache_write_tokens), 0) as bigint)`.as('cache_write_tokens'),
      sql<number>`cast(coalesce(sum(reasoning_tokens), 0) as bigint)`.as('reasoning_tokens'),
      sql<number>`cast(coalesce(sum(cost_micros), 0) as bigint)`.as('cost_micros'),
      sql<number>`cast(coalesce(sum(latency_ms), 0) as bigint)`.as('latency_ms'),
    ]);
  if (q.userId !== undefined) query = query.where('user_id', '=', q.userId);
  if (q.model !== undefined) query = query.where('model', '=', q.model);
  if (q.from !== undefined) query = query.where('ts', '>=', q.from);
  if (q.to !== undefined) query = query.where('ts', '<', q.to);
  const grouped = query.groupBy(sql`1`);
  const ordered = byTime
    ? grouped.orderBy(sql`1`)
    : grouped.orderBy(sql`cast(coalesce(sum(cost_micros), 0) as bigint)`, 'desc').orderBy(sql`cast(count(*) as bigint)`, 'desc').orderBy(sql`1`);
  const rows = await ordered.limit(MAX_GROUPS).execute();
  return rows.map((r) => ({
    key: r.key,
    requests: r.requests,
    errors: r.errors,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
    cachedTokens: r.cached_tokens,
    cacheWriteTokens: r.cache_write_tokens,
    reasoningTokens: r.reasoning_tokens,
    costMicros: r.cost_micros,
    avgLatencyMs: r.requests === 0 ? 0 : Math.round(r.latency_ms / r.requests),
  }));
}
