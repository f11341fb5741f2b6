/**
 * The owner of limits and money in a process: the limiter, the credit ledger,
 * the batched usage writer and the balance refresh, behind one admission gate.
 * A single-process server builds one for itself (src/main.ts); with
 * `serve --workers N` the main thread builds the only one and the workers
 * reach it through their ports (src/workers/), so every limit and balance has
 * exactly one holder.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Store } from '../store/store.ts';
import { MemoryLimiter } from '../limiter/memory-limiter.ts';
import { RedisLimiter } from '../limiter/redis-limiter.ts';
import type { Limiter } from '../limiter/limiter.ts';
import { parseRedisUrl } from '../sync/redis-url.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { LocalGate } from '../gateway/admission-gate.ts';
import { ShardMap } from '../limiter/redis-shards.ts';
import { CreditGate } from './credit-gate.ts';
import { LedgerLimiter } from './ledger-limiter.ts';
import { RedisCredits, type RedisCreditStore } from './redis-credits.ts';
import { reconcileLedger, type DriftReport } from './ledger-reconcile.ts';
import { CreditLedger } from './ledger.ts';
import { UsageWriter } from './usage-writer.ts';

export interface Accounting {
  readonly limiter: Limiter;
  readonly ledger: CreditLedger;
  /** Loads, settles and syncs credits with whichever ledger judges them (credit-gate.ts). */
  readonly credits: CreditGate;
  readonly writer: UsageWriter;
  readonly gate: LocalGate;
  /** Flushes the writer (spooling what the store does not take by the deadline) and closes the limiter. */
  close(): Promise<void>;
}

/**
 * Builds the limiter, the credit ledgers and the writer, and commits what an
 * earlier run spooled: records spooled by an earlier run must be in the store
 * before balances are loaded from it, or those balances would not include
 * their costs.
 */
export async function startAccounting(config: Config, store: Store, logger: Logger, metrics: GatewayMetrics | null): Promise<Accounting> {
  const ledger = new CreditLedger(store, { overdraftMicros: config.metering.overdraftMicros });
  const { limiter, redisCredits } = createLimiter(config, logger, metrics, ledger, store);
  // Requests before the first Redis connection would wait out the command timeout.
  if (!(await limiter.ready(2_000))) logger.warn({ failPolicy: config.redis.failPolicy }, 'redis not reachable at start; the fail policy applies until it is');
  const credits = new CreditGate(ledger, limiter, redisCredits);
  const writer = new UsageWriter(store.usage, {
    dataDir: config.dataDir,
    batchSize: config.metering.batchSize,
    flushIntervalMs: config.metering.flushIntervalMs,
    maxQueue: config.metering.maxQueue,
    log: logger,
    onFlush: metrics === null ? undefined : (records, seconds) => metrics.writerFlush(records, seconds),
    onSpill: metrics === null ? undefined : (records) => metrics.spooled(records),
    onCommit: (result, records) => credits.committed(result, records),
    onRefused: (records) => {
      credits.refused(records);
      metrics?.recordsRefused(records.length);
    },
  });
  await writer.flush();
  // Other nodes' spending reaches this node's live balances through the store.
  const refresh = config.metering.balanceRefreshMs > 0
    ? setInterval(() => ledger.refresh().catch((err: unknown) => logger.warn({ err }, 'balance refresh failed')), config.metering.balanceRefreshMs)
    : null;
  refresh?.unref();
  const reconcile = redisCredits === null ? null : startReconciliation(config, redisCredits, store, logger, metrics);
  if (metrics !== null) registerAccountingGauges(metrics, limiter, writer);

  return {
    limiter,
    ledger,
    credits,
    writer,
    gate: new LocalGate(limiter, credits),
    async close() {
      if (refresh !== null) clearInterval(refresh);
      if (reconcile !== null) clearInterval(reconcile);
      await writer.close(10_000);
      await limiter.close();
    },
  };
}

/** The Redis balances against the record, every `redis.reconcileMs`, exported as a drift metric. */
function startReconciliation(config: Config, redisCredits: RedisCredits, store: Store, logger: Logger, metrics: GatewayMetrics | null): NodeJS.Timeout | null {
  let lastDrift: DriftReport | null = null;
  if (metrics !== null) {
    metrics.registerGauge('tollgate_ledger_drift_micros', 'Redis balance minus store balance, summed over users at the same debit_seq (last reconciliation).', () => lastDrift?.driftMicros ?? 0);
    metrics.registerGauge('tollgate_ledger_drifting_users', 'Users whose Redis balance differs from the store (last reconciliation).', () => lastDrift?.drifting ?? 0);
    metrics.registerGauge('tollgate_ledger_pending_sync', 'Commit notices and admin credits waiting to reach Redis.', () => redisCredits.pendingSync);
  }
  if (config.redis.reconcileMs <= 0) return null;
  const timer = setInterval(() => {
    reconcileLedger(redisCredits, store, logger).then((r) => (lastDrift = r), (err: unknown) => logger.warn({ err }, 'ledger reconciliation failed'));
  }, config.redis.reconcileMs);
  timer.unref();
  return timer;
}

/**
 * The limiter of the configuration, judging limits, budgets and credits in
 * one step: the memory limiter with this node's ledger, or the Redis limiter
 * with the Redis ledger (its keys in the same shards) when REDIS_URL is set.
 */
export function createLimiter(config: Config, logger: Logger, metrics: GatewayMetrics | null, ledger: CreditLedger | null, store: RedisCreditStore): { limiter: Limiter; redisCredits: RedisCredits | null } {
  if (config.redisUrl === null) {
    const memory = new MemoryLimiter({ timeZone: config.budgets.timeZone });
    return { limiter: ledger === null ? memory : new LedgerLimiter(memory, ledger), redisCredits: null };
  }
  const shardMap = new ShardMap(config.redis.keyPrefix, 'rl', limiterShards(config.redisUrl, config.redis.shards));
  const redisCredits = new RedisCredits({
    shards: shardMap,
    store,
    overdraftMicros: config.metering.overdraftMicros,
    local: config.redis.creditFailPolicy === 'local' ? ledger : null,
    onError: (err) => {
      metrics?.redisError('ledger');
      logger.warn({ err: err.message }, 'redis ledger sync failed; retrying');
    },
  });
  const limiter = new RedisLimiter({
    redis: config.redisUrl,
    timeZone: config.budgets.timeZone,
    shardMap,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    failPolicy: config.redis.failPolicy,
    credits: redisCredits,
    onError: (err) => {
      metrics?.redisError('limiter');
      logger.warn({ err: err.message, failPolicy: config.redis.failPolicy }, 'redis limiter error');
    },
  });
  return { limiter, redisCredits };
}

/** Shards of the limiter's keys: as configured, or 1 on one server and 16 on a cluster (enough to spread over a few masters). */
function limiterShards(redisUrl: string, configured: number): number {
  if (configured > 0) return configured;
  return parseRedisUrl(redisUrl).kind === 'cluster' ? 16 : 1;
}

/** The limiter's and the writer's gauges, on the registry of the process that holds them. */
export function registerAccountingGauges(metrics: GatewayMetrics, limiter: Limiter, writer: UsageWriter | null): void {
  // Only the Redis kind has a connection to watch; a memory limiter reporting
  // "redis available" would mislead dashboards of a single-node install.
  if (limiter.kind === 'redis') {
    metrics.registerGauge('tollgate_redis_available', 'Whether the Redis limiter has a usable connection (1) or runs on its fail policy (0).', () => (limiter.isAvailable() ? 1 : 0));
    metrics.registerGauge('tollgate_redis_pending_settlements', 'Limiter settlements waiting to ride on the next Redis call.', () => limiter.stats().pendingSettlements);
  }
  if (writer === null) return;
  metrics.registerGauge('tollgate_writer_spool_records', 'Usage records now in the local spool (store slow or down).', () => writer.stats().spooledRecords);
  // The queue depth is sampled rather than pushed from the hot path on every enqueue.
  setInterval(() => metrics.setWriterQueueDepth(writer.stats().queued), 1_000).unref();
}
