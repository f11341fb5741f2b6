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
import { CreditLedger } from './ledger.ts';
import { UsageWriter } from './usage-writer.ts';

export interface Accounting {
  readonly limiter: Limiter;
  readonly ledger: CreditLedger;
  readonly writer: UsageWriter;
  readonly gate: LocalGate;
  /** Flushes the writer (spooling what the store does not take by the deadline) and closes the limiter. */
  close(): Promise<void>;
}

/**
 * Builds the limiter, ledger and writer, and commits what an earlier run
 * spooled: records spooled by an earlier run must be in the store before
 * balances are loaded from it, or those balances would not include their costs.
 */
export async function startAccounting(config: Config, store: Store, logger: Logger, metrics: GatewayMetrics | null): Promise<Accounting> {
  const limiter = createLimiter(config, logger, metrics);
  // Requests before the first Redis connection would wait out the command timeout.
  if (!(await limiter.ready(2_000))) logger.warn({ failPolicy: config.redis.failPolicy }, 'redis not reachable at start; the fail policy applies until it is');
  const ledger = new CreditLedger(store, { overdraftMicros: config.metering.overdraftMicros });
  const writer = new UsageWriter(store.usage, {
    dataDir: config.dataDir,
    batchSize: config.metering.batchSize,
    flushIntervalMs: config.metering.flushIntervalMs,
    maxQueue: config.metering.maxQueue,
    log: logger,
    onFlush: metrics === null ? undefined : (records, seconds) => metrics.writerFlush(records, seconds),
    onSpill: metrics === null ? undefined : (records) => metrics.spooled(records),
    onCommit: (deltas) => ledger.committed(deltas),
    onRefused: (records) => {
      for (const r of records) ledger.refused(r.userId, r.costMicros);
      metrics?.recordsRefused(records.length);
    },
  });
  await writer.flush();
  // Other nodes' spending reaches this node's live balances through the store.
  const refresh = config.metering.balanceRefreshMs > 0
    ? setInterval(() => ledger.refresh().catch((err: unknown) => logger.warn({ err }, 'balance refresh failed')), config.metering.balanceRefreshMs)
    : null;
  refresh?.unref();
  if (metrics !== null) registerAccountingGauges(metrics, limiter, writer);

  return {
    limiter,
    ledger,
    writer,
    gate: new LocalGate(limiter, ledger),
    async close() {
      if (refresh !== null) clearInterval(refresh);
      await writer.close(10_000);
      await limiter.close();
    },
  };
}

/** The limiter of the configuration: in memory, or Redis when REDIS_URL is set. */
export function createLimiter(config: Config, logger: Logger, metrics: GatewayMetrics | null): Limiter {
  if (config.redisUrl === null) return new MemoryLimiter({ timeZone: config.budgets.timeZone });
  return new RedisLimiter({
    redis: config.redisUrl,
    timeZone: config.budgets.timeZone,
    keyPrefix: config.redis.keyPrefix,
    shards: limiterShards(config.redisUrl, config.redis.shards),
    commandTimeoutMs: config.redis.commandTimeoutMs,
    failPolicy: config.redis.failPolicy,
    onError: (err) => {
      metrics?.redisError('limiter');
      logger.warn({ err: err.message, failPolicy: config.redis.failPolicy }, 'redis limiter error');
    },
  });
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
