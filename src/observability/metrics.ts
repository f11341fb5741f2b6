/**
 * The gateway's Prometheus metrics (GET /metrics). Every name is documented in
 * docs/metrics.md and used verbatim by deploy/.
 *
 * Hot-path contract: `recordRequest` is the only per-request call. It finds a
 * pre-resolved RequestSeries through nested Maps keyed by the outcome's own
 * strings (no key string is built, nothing is allocated once a combination has
 * been seen) and bumps plain numbers on it; see fast-metric.ts for why
 * prom-client's own children are not used there. The other methods are called
 * by their stages (limiter, failover, cache, writer, Redis) and cache their
 * children the same way.
 */
import { performance } from 'node:perf_hooks';
import { Registry, Gauge, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from './fast-metric.ts';
import { LabelCap, OTHER } from './label-cap.ts';
import { ROUTES, overheadMs, type Outcome, type RequestOutcome } from './request-outcome.ts';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'tollgate_';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
const TTFT_BUCKETS = [0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const FLUSH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export interface GatewayMetricsOptions {
  /** Distinct model label values before folding into "other" (default 200). */
  maxModels?: number;
  /** Distinct channel label values before folding into "other" (default 200). */
  maxChannels?: number;
  /** Route×model×channel×status combinations before folding model and channel (default 2000). */
  maxSeries?: number;
  /** Register prom-client's process/Node metrics with the tollgate_ prefix (default true). */
  defaultMetrics?: boolean;
}

/** The pre-resolved children one (route, model, channel, status) combination updates. */
class RequestSeries {
  readonly requests: CounterChild;
  readonly duration: HistogramChild;
  readonly upstream: HistogramChild;
  readonly ttft: HistogramChild;
  readonly overhead: HistogramChild;
  readonly promptTokens: CounterChild;
  readonly completionTokens: CounterChild;
  readonly credits: CounterChild;
  readonly attempts: CounterChild;

  constructor(m: GatewayMetrics, route: string, model: string, channel: string, status: string) {
    this.requests = m.requestsTotal.child(route, model, channel, status);
    this.duration = m.requestDuration.child(route, model, channel);
    this.upstream = m.upstreamDuration.child(model, channel);
    this.ttft = m.ttft.child(model, channel);
    this.overhead = m.overhead.child(route);
    this.promptTokens = m.tokens.child(model, channel, 'prompt');
    this.completionTokens = m.tokens.child(model, channel, 'completion');
    this.credits = m.credits.child(model, channel);
    this.attempts = m.attempts.child(route);
  }
}

/** A connection pool's state, read at scrape time. */
export interface PoolStats {
  /** Open connections (busy + idle). */
  total: number;
  /** Open connections not in use. */
  idle: number;
  /** Callers (or commands) waiting for a connection. */
  waiting: number;
}

/** allowed/denied (or hit/miss) children of one two-valued label. */
interface BinaryChildren {
  yes: CounterChild;
  no: CounterChild;
}

type Nested<T> = Map<string, T>;

/** Prometheus metrics of one gateway process, on its own Registry. */
export class GatewayMetrics {
  readonly registry: Registry;

  readonly requestsTotal = new FastCounter('tollgate_requests_total', 'Requests finished, by route, model, channel and HTTP status.', ['route', 'model', 'channel', 'status']);
  readonly outcomes = new FastCounter('tollgate_request_outcomes_total', 'Requests finished, by route and outcome (ok, upstream_error, refused, client_abort, ...).', ['route', 'outcome']);
  readonly errors = new FastCounter('tollgate_request_errors_total', 'Requests that ended with an error, by error class.', ['error_class']);
  readonly requestDuration = new FastHistogram('tollgate_request_duration_seconds', 'Request latency from arrival to last byte sent.', ['route', 'model', 'channel'], LATENCY_BUCKETS);
  readonly upstreamDuration = new FastHistogram('tollgate_upstream_duration_seconds', 'Time spent waiting on the upstream (all attempts), for requests that reached one.', ['model', 'channel'], LATENCY_BUCKETS);
  readonly ttft = new FastHistogram('tollgate_ttft_seconds', 'Time to first token sent to the client, streamed requests only.', ['model', 'channel'], TTFT_BUCKETS);
  readonly overhead = new FastHistogram('tollgate_overhead_seconds', "The gateway's own time: request latency minus upstream wait.", ['route'], OVERHEAD_BUCKETS);
  readonly tokens = new FastCounter('tollgate_tokens_total', 'Tokens metered, by model, channel and kind (prompt or completion).', ['model', 'channel', 'kind']);
  readonly credits = new FastCounter('tollgate_credits_charged_micros_total', 'Credits charged, in micro-credits.', ['model', 'channel']);
  readonly attempts = new FastCounter('tollgate_upstream_attempts_total', 'Upstream attempts made (more than requests when failing over).', ['route']);
  readonly limiter = new FastCounter('tollgate_limiter_decisions_total', 'Rate/credit limiter decisions, by limit kind and decision.', ['kind', 'decision']);
  readonly failovers = new FastCounter('tollgate_failovers_total', 'Failovers away from a channel, by channel and reason.', ['channel', 'reason']);
  readonly budgetRefusals = new FastCounter('tollgate_budget_refusals_total', 'Requests refused by a spend budget (402), by budget scope and period.', ['scope', 'period']);
  readonly refusedRecords = new FastCounter('tollgate_writer_refused_records_total', 'Usage records the store refused for good (set aside in a rejected file; their debits given back).', []);
  readonly chargeCaps = new FastCounter('tollgate_charge_capped_micros_total', 'Cost above a request\'s reservation plus overdraft, not charged (an upstream past every completion bound).', []);
  readonly firstTokenFailovers = new FastCounter('tollgate_first_token_failovers_total', 'Streamed attempts cut for sending no first byte within the channel\'s first-token timeout, by channel.', ['channel']);
  readonly cooldowns = new FastCounter('tollgate_channel_cooldowns_total', 'Times a channel was put in cooldown.', ['channel']);
  readonly cache = new FastCounter('tollgate_cache_lookups_total', 'Cache lookups, by cache and result (hit or miss).', ['cache', 'result']);
  readonly writerFlushes = new FastHistogram('tollgate_writer_flush_duration_seconds', 'Batched writer flush latency.', [], FLUSH_BUCKETS);
  readonly writerRecords = new FastCounter('tollgate_writer_flushed_records_total', 'Records written by the batched writer.', []);
  readonly writerSpooled = new FastCounter('tollgate_writer_spooled_records_total', 'Records spooled to local disk because the store was unavailable.', []);
  readonly redisErrors = new FastCounter('tollgate_redis_errors_total', 'Redis command errors, by operation.', ['op']);

  private readonly models: LabelCap;
  private readonly channels: LabelCap;
  /** Small label sets fed by code, capped anyway so a bug cannot explode cardinality. */
  private readonly outcomeCap = new LabelCap(32, 64);
  private readonly errorCap = new LabelCap(64, 64);
  private readonly kindCap = new LabelCap(32, 64);
  private readonly reasonCap = new LabelCap(32, 64);
  private readonly cacheCap = new LabelCap(32, 64);
  private readonly opCap = new LabelCap(32, 64);
  private readonly maxSeries: number;
  private seriesCount = 0;
  /** route → model → channel → status → series, keyed by the outcome's raw strings. */
  private readonly series: Nested<Nested<Nested<Map<number, RequestSeries>>>> = new Map();
  private readonly outcomeChildren: Nested<Nested<CounterChild>> = new Map();
  private readonly errorChildren: Nested<CounterChild> = new Map();
  private readonly limiterChildren: Nested<BinaryChildren> = new Map();
  private readonly cacheChildren: Nested<BinaryChildren> = new Map();
  private readonly redisChildren: Nested<CounterChild> = new Map();
  private readonly writerFlushChild: HistogramChild;
  private readonly writerRecordsChild: CounterChild;
  private readonly writerSpooledChild: CounterChild;
  private writerQueueDepth = 0;
  private readonly pools = new Map<string, () => PoolStats>();
  private lastElu = performance.eventLoopUtilization();

  constructor(opts: GatewayMetricsOptions = {}) {
    this.registry = new Registry();
    this.models = new LabelCap(opts.maxModels ?? 200);
    this.channels = new LabelCap(opts.maxChannels ?? 200);
    this.maxSeries = opts.maxSeries ?? 2000;
    for (const m of [
      this.requestsTotal, this.outcomes, this.errors, this.requestDuration, this.upstreamDuration, this.ttft,
      this.overhead, this.tokens, this.credits, this.attempts, this.limiter, this.failovers, this.firstTokenFailovers, this.cooldowns, this.chargeCaps, this.refusedRecords, this.budgetRefusals,
      this.cache, this.writerFlushes, this.writerRecords, this.writerSpooled, this.redisErrors,
    ]) m.registerWith(this.registry);
    this.writerFlushChild = this.writerFlushes.child();
    this.writerRecordsChild = this.writerRecords.child();
    this.writerSpooledChild = this.writerSpooled.child();
    this.writerSpooledChild.inc(0);
    this.registerGauge('tollgate_writer_queue_depth', 'Records waiting in the batched writer queue.', () => this.writerQueueDepth);
    this.registerGauge('tollgate_eventloop_utilization', 'Event-loop utilisation (0..1) since the previous scrape.', () => {
      const now = performance.eventLoopUtilization();
      const u = performance.eventLoopUtilization(now, this.lastElu).utilization;
      this.lastElu = now;
      return u;
    });
    const pools = this.pools;
    new Gauge({
      name: 'tollgate_pool_connections',
      help: 'Connections in a pool (database, Redis), by pool and state (total or idle).',
      labelNames: ['pool', 'state'],
      registers: [this.registry],
      collect() {
        for (const [pool, read] of pools) {
          const st = read();
          this.set({ pool, state: 'total' }, st.total);
          this.set({ pool, state: 'idle' }, st.idle);
        }
      },
    });
    new Gauge({
      name: 'tollgate_pool_waiting',
      help: 'Callers or commands waiting for a pool connection, by pool.',
      labelNames: ['pool'],
      registers: [this.registry],
      collect() {
        for (const [pool, read] of pools) this.set({ pool }, read().waiting);
      },
    });
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    }
  }

  /** Records one finished request. The only per-request call; allocation-free after warm-up. */
  recordRequest(o: RequestOutcome): void {
    const s = this.lookupSeries(o);
    s.requests.value++;
    s.duration.observe(o.latencyMs / 1000);
    if (o.attempts > 0 || o.upstreamMs > 0) s.upstream.observe(o.upstreamMs / 1000);
    if (o.stream && o.ttftMs >= 0) s.ttft.observe(o.ttftMs / 1000);
    s.overhead.observe(overheadMs(o) / 1000);
    if (o.promptTokens > 0) s.promptTokens.value += o.promptTokens;
    if (o.completionTokens > 0) s.completionTokens.value += o.completionTokens;
    if (o.costMicros > 0) s.credits.value += o.costMicros;
    if (o.attempts > 0) s.attempts.value += o.attempts;

    const byOutcome = this.outcomeChildren.get(o.route);
    const oc = byOutcome === undefined ? undefined : byOutcome.get(o.outcome);
    if (oc !== undefined) oc.value++;
    else this.resolveOutcome(o.route, o.outcome).value++;

    if (o.errorClass !== null) {
      const ec = this.errorChildren.get(o.errorClass);
      if (ec !== undefined) ec.value++;
      else this.resolveKeyed(this.errorChildren, this.errors, this.errorCap, o.errorClass).value++;
    }
  }

  /** One limiter decision; `kind` is the limit kind (e.g. 'rpm', 'tpm', 'concurrency', 'credits'). */
  limiterDecision(kind: string, allowed: boolean): void {
    const c = this.limiterChildren.get(kind) ?? this.resolveBinary(this.limiterChildren, this.limiter, this.kindCap, kind, 'allowed', 'denied');
    (allowed ? c.yes : c.no).value++;
  }

  /** A failover away from `channel` (reason e.g. 'connect', '429', '5xx', 'timeout'). Not hot. */
  failover(channel: string, reason: string): void {
    this.failovers.child(this.channels.bound(channel), this.reasonCap.bound(reason)).value++;
  }

  /** Records the store refused for good. Rare. */
  recordsRefused(n: number): void {
    this.refusedRecords.child().value += n;
  }

  /** A request was refused by a spend budget (also counted as limiter kind 'budget'). Scope and period are closed sets. */
  budgetRefused(scope: string, period: string): void {
    this.budgetRefusals.child(scope, period).value++;
  }

  /** A charge was capped at the reservation plus overdraft; `micros` were not charged. Rare. */
  chargeCapped(micros: number): void {
    this.chargeCaps.child().value += micros;
  }

  /** An attempt on `channel` was cut by its first-token timeout. Not hot. */
  firstTokenFailover(channel: string): void {
    this.firstTokenFailovers.child(this.channels.bound(channel)).value++;
  }

  /** `channel` was put in cooldown. Not hot. */
  cooldown(channel: string): void {
    this.cooldowns.child(this.channels.bound(channel)).value++;
  }

  /** One lookup in the named cache (e.g. 'auth', 'balance', 'response'). */
  cacheLookup(cache: string, hit: boolean): void {
    const c = this.cacheChildren.get(cache) ?? this.resolveBinary(this.cacheChildren, this.cache, this.cacheCap, cache, 'hit', 'miss');
    (hit ? c.yes : c.no).value++;
  }

  /** Current number of records waiting in the batched writer. */
  setWriterQueueDepth(n: number): void {
    this.writerQueueDepth = n;
  }

  /** One writer flush of `records` records that took `seconds`. */
  writerFlush(records: number, seconds: number): void {
    this.writerFlushChild.observe(seconds);
    this.writerRecordsChild.value += records;
  }

  /** `n` records were spooled to disk instead of the store. */
  spooled(n: number): void {
    this.writerSpooledChild.value += n;
  }

  /** A Redis command failed; `op` is a short operation name (e.g. 'limit', 'balance', 'pubsub'). */
  redisError(op: string): void {
    const c = this.redisChildren.get(op) ?? this.resolveKeyed(this.redisChildren, this.redisErrors, this.opCap, op);
    c.value++;
  }

  /**
   * Registers a gauge read at scrape time (pool sizes, queue lengths...).
   * `name` must start with `tollgate_`. Returns nothing to update: the callback is the source.
   */
  registerGauge(name: string, help: string, collect: () => number): void {
    if (!name.startsWith(METRIC_PREFIX)) throw new Error(`metric name ${name} must start with ${METRIC_PREFIX}`);
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(collect());
      },
    });
  }

  /**
   * Registers a connection pool read at scrape time, as
   * tollgate_pool_connections{pool,state} and tollgate_pool_waiting{pool}.
   * E.g. pg: `registerPool('db', () => ({ total: p.totalCount, idle: p.idleCount, waiting: p.waitingCount }))`.
   */
  registerPool(pool: string, read: () => PoolStats): void {
    this.pools.set(pool, read);
  }

  /** The Prometheus text exposition, ready to send as GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private lookupSeries(o: RequestOutcome): RequestSeries {
    const byModel = this.series.get(o.route);
    if (byModel !== undefined) {
      const byChannel = byModel.get(o.model);
      if (byChannel !== undefined) {
        const byStatus = byChannel.get(o.channel);
        if (byStatus !== undefined) {
          const s = byStatus.get(o.status);
          if (s !== undefined) return s;
        }
      }
    }
    return this.resolveSeries(o);
  }

  /** Cold path: bounds the labels, creates the series, caches it under the raw key only when nothing folded. */
  private resolveSeries(o: RequestOutcome): RequestSeries {
    const route = (ROUTES as readonly string[]).includes(o.route) ? o.route : OTHER;
    // A model name from a request that never reached an upstream and failed may be
    // client garbage: it must not take one of the capped slots.
    const admit = o.attempts > 0 || o.status < 400;
    let model = this.models.bound(o.model, admit);
    let channel = this.channels.bound(o.channel, admit);
    const status = o.status >= 100 && o.status <= 599 ? Math.trunc(o.status) : 0;
    if (this.seriesCount >= this.maxSeries) {
      model = OTHER;
      channel = OTHER;
    }
    let s = this.cached(route, model, channel, status);
    if (s === undefined) {
      s = new RequestSeries(this, route, model, channel, String(status));
      this.seriesCount++;
      this.cache4(route, model, channel, status, s);
    }
    // Cache under the raw key only when every raw value maps to itself (or '' to
    // 'none'): raw values that folded into 'other' are not cached, so junk cannot
    // grow the maps; such requests pay this cold path (a few Set/Map reads) each time.
    const stable =
      route === o.route && status === o.status &&
      (model === o.model || o.model === '') && (channel === o.channel || o.channel === '');
    if (stable) this.cache4(o.route, o.model, o.channel, o.status, s);
    return s;
  }

  private cached(route: string, model: string, channel: string, status: number): RequestSeries | undefined {
    return this.series.get(route)?.get(model)?.get(channel)?.get(status);
  }

  private cache4(route: string, model: string, channel: string, status: number, s: RequestSeries): void {
    let byModel = this.series.get(route);
    if (byModel === undefined) this.series.set(route, (byModel = new Map()));
    let byChannel = byModel.get(model);
    if (byChannel === undefined) byModel.set(model, (byChannel = new Map()));
    let byStatus = byChannel.get(channel);
    if (byStatus === undefined) byChannel.set(channel, (byStatus = new Map()));
    byStatus.set(status, s);
  }

  private resolveOutcome(rawRoute: string, rawOutcome: Outcome): CounterChild {
    const route = (ROUTES as readonly string[]).includes(rawRoute) ? rawRoute : OTHER;
    const outcome = this.outcomeCap.bound(rawOutcome);
    const child = this.outcomes.child(route, outcome);
    if (route === rawRoute && outcome === rawOutcome) {
      let m = this.outcomeChildren.get(route);
      if (m === undefined) this.outcomeChildren.set(route, (m = new Map()));
      m.set(outcome, child);
    }
    return child;
  }

  private resolveKeyed(cache: Nested<CounterChild>, metric: FastCounter, cap: LabelCap, raw: string): CounterChild {
    const label = cap.bound(raw);
    const child = metric.child(label);
    if (label === raw) cache.set(raw, child);
    return child;
  }

  private resolveBinary(cache: Nested<BinaryChildren>, metric: FastCounter, cap: LabelCap, raw: string, yes: string, no: string): BinaryChildren {
    const label = cap.bound(raw);
    const c = { yes: metric.child(label, yes), no: metric.child(label, no) };
    if (label === raw) cache.set(raw, c);
    return c;
  }
}
