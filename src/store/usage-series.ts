/**
 * Usage over time for the dashboard: requests, errors, tokens, cost and
 * latency/TTFT percentiles per fixed time step (a minute up to a day), and
 * the same figures per upstream channel. Three grouped queries per call — sums,
 * latency bins, TTFT bins — each one pass over the `usage_ts` index range,
 * with output bounded by steps × bins whatever the traffic.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { StoreInputError } from './errors.ts';
import { BinCounts, binExpression, type Distribution } from './latency-histogram.ts';
import type { Database } from './schema.ts';

/** At most this many steps per series (a week of minutes is 10,080; a week of 15-minute steps is 672). */
export const MAX_SERIES_POINTS = 1500;

/** Filters of a series (`from` inclusive, `to` exclusive, epoch ms; both are widened to whole steps). */
export interface UsageSeriesQuery {
  from: number;
  to: number;
  stepMs: number;
  userId?: number;
  model?: string;
}

/** Figures of one step, one channel, or a whole range. */
export interface UsageFigures {
  requests: number;
  /** Records with status ≥ 400. */
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  /** Null when no records. */
  latency: Distribution | null;
  /** Null when no streamed record with a first token. */
  ttft: Distribution | null;
}

/** One step of a series; `ts` is its start (epoch ms, aligned to the step in UTC). */
export interface UsagePoint extends UsageFigures { ts: number }

/** A dense series: one point per step from `from` to `to`, empty steps included. */
export interface UsageSeries {
  from: number;
  to: number;
  stepMs: number;
  points: UsagePoint[];
  totals: UsageFigures;
}

/** Figures of one upstream channel (`channelId` null: requests that reached no channel). */
export interface ChannelUsage extends UsageFigures {
  channelId: number | null;
  lastTs: number;
  lastErrorTs: number | null;
}

interface Filter { from: number; to: number; userId?: number; model?: string }

interface Group {
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
  lastTs: number;
  lastErrorTs: number | null;
  latency: BinCounts;
  ttft: BinCounts;
}

function emptyGroup(): Group {
  return { requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, costMicros: 0, lastTs: 0, lastErrorTs: null, latency: new BinCounts(), ttft: new BinCounts() };
}

function figures(g: Group): UsageFigures {
  return {
    requests: g.requests,
    errors: g.errors,
    promptTokens: g.promptTokens,
    completionTokens: g.completionTokens,
    costMicros: g.costMicros,
    latency: g.latency.distribution(),
    ttft: g.ttft.distribution(),
  };
}

function checkInt(name: string, v: number | undefined): void {
  if (v !== undefined && !Number.isSafeInteger(v)) throw new StoreInputError('invalid', `${name} must be an integer`);
}

/**
 * Runs the three grouped queries keyed by `key` and folds them into one
 * group per key. Keys come back as numbers (or null for a null channel).
 */
async function grouped(db: Kysely<Database>, key: RawBuilder<number | null>, f: Filter): Promise<Map<number | null, Group>> {
  const base = () => {
    let q = db.selectFrom('usage_records').where('ts', '>=', f.from).where('ts', '<', f.to);
    if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
    if (f.model !== undefined) q = q.where('model', '=', f.model);
    return q;
  };
  // Casts: SUM over bigint is numeric on PostgreSQL (a string through pg); int8 parses to a number.
  const sums = base()
    .select([
      key.as('key'),
      sql<number>`cast(count(*) as bigint)`.as('requests'),
      sql<number>`cast(sum(case when status >= 400 then 1 else 0 end) as bigint)`.as('errors'),
      sql<number>`cast(sum(prompt_tokens) as bigint)`.as('prompt_tokens'),
      sql<number>`cast(sum(completion_tokens) as bigint)`.as('completion_tokens'),
      sql<number>`cast(sum(cost_micros) as bigint)`.as('cost_micros'),
      sql<number>`cast(sum(latency_ms) as bigint)`.as('lat_sum'),
      sql<number>`min(latency_ms)`.as('lat_min'),
      sql<number>`max(latency_ms)`.as('lat_max'),
      sql<number>`cast(count(ttft_ms) as bigint)`.as('ttft_count'),
      sql<number | null>`cast(sum(ttft_ms) as bigint)`.as('ttft_sum'),
      sql<number | null>`min(ttft_ms)`.as('ttft_min'),
      sql<number | null>`max(ttft_ms)`.as('ttft_max'),
      sql<number>`max(ts)`.as('last_ts'),
      sql<number | null>`max(case when status >= 400 then ts end)`.as('last_error_ts'),
    ])
    .groupBy(sql`1`)
    .execute();
  const latencyBins = base()
    .select([key.as('key'), binExpression('latency_ms').as('bin'), sql<number>`cast(count(*) as bigint)`.as('n')])
    .groupBy([sql`1`, sql`2`])
    .execute();
  const ttftBins = base()
    .where('ttft_ms', 'is not', null)
    .select([key.as('key'), binExpression('ttft_ms').as('bin'), sql<number>`cast(count(*) as bigint)`.as('n')])
    .groupBy([sql`1`, sql`2`])
    .execute();

  const groups = new Map<number | null, Group>();
  const norm = (k: number | string | null) => (k === null ? null : Number(k));
  for (const r of await sums) {
    const g = emptyGroup();
    g.requests = r.requests;
    g.errors = r.errors;
    g.promptTokens = r.prompt_tokens;
    g.completionTokens = r.completion_tokens;
    g.costMicros = r.cost_micros;
    g.lastTs = Number(r.last_ts);
    g.lastErrorTs = r.last_error_ts === null ? null : Number(r.last_error_ts);
    Object.assign(g.latency, { count: r.requests, sum: r.lat_sum, min: r.lat_min, max: r.lat_max });
    if (r.ttft_count > 0) Object.assign(g.ttft, { count: r.ttft_count, sum: r.ttft_sum, min: r.ttft_min, max: r.ttft_max });
    groups.set(norm(r.key), g);
  }
  for (const r of await latencyBins) groups.get(norm(r.key))?.latency.counts.set([r.n], r.bin);
  for (const r of await ttftBins) groups.get(norm(r.key))?.ttft.counts.set([r.n], r.bin);
  return groups;
}

/** Aligns `[from, to)` outward to whole steps; refuses more than `MAX_SERIES_POINTS` steps. */
export function alignRange(from: number, to: number, stepMs: number): { from: number; to: number } {
  const start = from - (((from % stepMs) + stepMs) % stepMs);
  const end = Math.ceil(to / stepMs) * stepMs;
  if ((end - start) / stepMs > MAX_SERIES_POINTS) {
    throw new StoreInputError('invalid', `range covers more than ${MAX_SERIES_POINTS} steps of ${stepMs} ms`);
  }
  return { from: start, to: end };
}

/** A dense series of usage per step, oldest first, with totals over the whole (aligned) range. */
export async function usageSeries(db: Kysely<Database>, q: UsageSeriesQuery): Promise<UsageSeries> {
  for (const [name, v] of [['from', q.from], ['to', q.to], ['stepMs', q.stepMs], ['userId', q.userId]] as const) checkInt(name, v);
  if (q.stepMs < 1000) throw new StoreInputError('invalid', 'stepMs must be at least 1000');
  if (q.from >= q.to) throw new StoreInputError('invalid', 'from must be before to');
  const range = alignRange(q.from, q.to, q.stepMs);
  // A literal, as in usage-stats.ts: PostgreSQL must see one constant expression to group by.
  const groups = await grouped(db, sql<number>`ts - ts % ${sql.lit(q.stepMs)}`, { ...q, ...range });
  const total = emptyGroup();
  const points: UsagePoint[] = [];
  for (let ts = range.from; ts < range.to; ts += q.stepMs) {
    const g = groups.get(ts);
    if (g === undefined) {
      points.push({ ts, ...figures(emptyGroup()) });
      continue;
    }
    points.push({ ts, ...figures(g) });
    total.requests += g.requests;
    total.errors += g.errors;
    total.promptTokens += g.promptTokens;
    total.completionTokens += g.completionTokens;
    total.costMicros += g.costMicros;
    total.latency.add(g.latency);
    total.ttft.add(g.ttft);
  }
  return { ...range, stepMs: q.stepMs, points, totals: figures(total) };
}

/** Usage per upstream channel over `[from, to)`, most requests first. */
export async function channelUsage(db: Kysely<Database>, f: { from: number; to: number }): Promise<ChannelUsage[]> {
  checkInt('from', f.from);
  checkInt('to', f.to);
  const groups = await grouped(db, sql<number | null>`channel_id`, f);
  return [...groups]
    .map(([channelId, g]) => ({ channelId, ...figures(g), lastTs: g.lastTs, lastErrorTs: g.lastErrorTs }))
    .sort((a, b) => b.requests - a.requests);
}
