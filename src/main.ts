/**
 * The composition root: builds every part once — store, caches, tables,
 * limiter, ledger, writer, upstream pool, metrics, logger — and wires them
 * into the gateway and the HTTP server. Nothing is constructed per request.
 */
import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { openStore, type Store } from './store/store.ts';
import { loadKeyRing } from './secrets/master-key.ts';
import { SecretBox } from './secrets/secret-box.ts';
import { KeyCache } from './keys/key-cache.ts';
import { identityOf } from './keys/key-rules.ts';
import { ClientAddress } from './gateway/client-address.ts';
import { HealthBook } from './routing/channel-health.ts';
import { RouteTable, type ChannelSpec } from './routing/route-table.ts';
import { upstreamConnector } from './routing/upstream-connector.ts';
import { ProxyTable } from './routing/proxy-table.ts';
import { ProxyMetrics, NO_PROXY_COUNTERS } from './observability/proxy-metrics.ts';
import { MemoryLimiter } from './limiter/memory-limiter.ts';
import { RedisLimiter } from './limiter/redis-limiter.ts';
import type { Limiter, LimitPolicy } from './limiter/limiter.ts';
import { PolicyBook } from './limiter/policy-book.ts';
import { PriceBook } from './metering/pricing.ts';
import { FilterBook } from './filters/filter-book.ts';
import { startTracing } from './observability/tracing.ts';
import { CreditLedger } from './metering/ledger.ts';
import { CreditGate } from './metering/credit-gate.ts';
import { LedgerLimiter } from './metering/ledger-limiter.ts';
import { RedisCredits } from './metering/redis-credits.ts';
import { reconcileLedger, type DriftReport } from './metering/ledger-reconcile.ts';
import { UsageWriter } from './metering/usage-writer.ts';
import { countCompletionTokens } from './metering/token-estimate.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { LatencyStats } from './observability/latency-stats.ts';
import { createLogger, flushLogger, logRequest } from './observability/logger.ts';
import { startMockUpstream, type MockUpstream } from './mock/mock-upstream.ts';
import { startProfilingServer } from './observability/profiler.ts';
import { Gateway } from './gateway/gateway.ts';
import { StoreHealth } from './gateway/store-health.ts';
import { ChangeSync } from './sync/change-sync.ts';
import { openChangeSignal, type ChangeSignal } from './sync/change-signal.ts';
import { createHttpServer, type HttpServer } from './edge/http-server.ts';
import { startServiceNode, type ServiceNode } from './services/service-node.ts';

/** The models of the built-in mock channel, free by default so a new install answers at once. */
export const MOCK_MODELS = ['mock-gpt', 'mock-gpt-large', 'mock-embed'] as const;
/** Id of the built-in mock channel and its key (store ids start at 1). */
const BUILTIN_ID = 0;

export interface Tollgate {
  readonly config: Config;
  readonly store: Store;
  readonly gateway: Gateway;
  readonly server: HttpServer;
  readonly sync: ChangeSync;
  /** Redis pub/sub doorbell for the change feed; null without REDIS_URL. */
  readonly signal: ChangeSignal | null;
  readonly logger: Logger;
  readonly mock: MockUpstream | null;
  /** Service routes (/svc/...); null when services.enabled is false. */
  readonly services: ServiceNode | null;
  /** http://host:port once listening. */
  readonly url: string;
  /** Graceful stop: drain, flush, close. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Pass an existing logger (tests); default: pino on stdout at config.logLevel. */
  logger?: Logger;
}

export async function startTollgate(config: Config, opts: StartOptions = {}): Promise<Tollgate> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const loadKeys = () => loadKeyRing({ env: process.env, dataDir: config.dataDir });
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    sqlite: config.sqlite,
    postgres: { poolSize: config.postgres.poolSize, schema: config.postgres.schema },
    // Loaded now, not at first use: a bad or unsafe master key stops the start, and the key file exists from the first start on.
    secrets: new SecretBox(loadKeys, loadKeys()),
  });
  const mock = config.mockChannel ? await startMockUpstream({ host: '127.0.0.1', port: 0 }) : null;

  const health = new HealthBook(config.upstream.cooldownBaseMs, config.upstream.cooldownMaxMs);
  const loadRoutes = async () => new RouteTable([...(mock === null ? [] : [builtinMockChannel(mock)]), ...(await store.channels.listFull())], health);
  const loadPolicies = async (): Promise<LimitPolicy[]> => (await store.limits.list()).map((p) => ({ scope: p.scope, subject: p.subject, rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency }));

  const metrics = config.metrics ? new GatewayMetrics() : null;
  const tracer = await startTracing(config.otel.endpoint, config.otel.serviceName);
  const proxyMetrics = metrics === null ? null : new ProxyMetrics(metrics.registry);
  const exempt = mock === null ? [] : [new URL(mock.url).host];
  const proxyOptions = { policy: config.upstream, connectTimeoutMs: config.upstream.connectTimeoutMs, connections: config.upstream.connectionsPerOrigin, exempt };
  const loadProxies = async (previous: ProxyTable | null) => new ProxyTable(await store.proxies.listFull(), await store.proxies.bindings(), health, proxyOptions, (name) => proxyMetrics?.countersFor(name) ?? NO_PROXY_COUNTERS, previous);
  const ledger = new CreditLedger(store, { overdraftMicros: config.metering.overdraftMicros });
  const redisCredits = config.redisUrl === null ? null : new RedisCredits({
    base: `${config.redis.keyPrefix}{rl}:`,
    store,
    overdraftMicros: config.metering.overdraftMicros,
    local: config.redis.creditFailPolicy === 'local' ? ledger : null,
    onError: (err) => {
      metrics?.redisError('ledger');
      logger.warn({ err: err.message }, 'redis ledger sync failed; retrying');
    },
  });
  const limiter = createLimiter(config, logger, metrics, ledger, redisCredits);
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
  // Records spooled by an earlier run must be in the store before balances are
  // loaded from it, or those balances would not include their costs.
  await writer.flush();

  const gateway = new Gateway({
    config,
    keys: new KeyCache((hash) => store.keys.findByHash(hash).then((k) => (k === undefined ? undefined : identityOf(k)))),
    clientAddress: new ClientAddress(config.trustedProxyHeader, config.trustedProxies),
    health,
    routes: await loadRoutes(),
    filters: new FilterBook(await store.filters.list()),
    upstream: new Agent({
      connections: config.upstream.connectionsPerOrigin,
      // The connector checks every dialled address against the SSRF policy; the built-in mock is exempt.
      connect: upstreamConnector({
        policy: config.upstream,
        connectTimeoutMs: config.upstream.connectTimeoutMs,
        exempt,
      }),
      keepAliveTimeout: 30_000,
      pipelining: 1,
    }),
    proxies: await loadProxies(null),
    limiter,
    policies: new PolicyBook(await loadPolicies()),
    prices: new PriceBook(await store.prices.list(), mock === null ? [] : MOCK_MODELS),
    ledger,
    credits,
    writer,
    metrics,
    latency: new LatencyStats(),
    requestLog: config.requestLog ? (o) => logRequest(logger, o) : null,
    tracer,
    countTokens: countCompletionTokens,
    onError: (err, ctx) => logger.error({ err, requestId: ctx.requestId }, 'request failed inside the gateway'),
    storeHealth: new StoreHealth(() => store.keys.findByHash('0'.repeat(64))),
    onStoreError: (err) => logger.warn({ err: (err as Error).message }, 'store unreachable on the request path'),
  });
  if (metrics !== null) registerGauges(metrics, gateway, store);
  const services = await startServiceNode(config, store, gateway, metrics, logger);

  const sync = new ChangeSync(store, {
    keyRevoked: (hash) => gateway.keys.forget(hash),
    // The next request reads the key's new rules from the store.
    keyChanged: (hash) => gateway.keys.forget(hash),
    userDisabled: () => gateway.keys.clear(),
    balanceChanged: (userId, delta, eventId) => credits.externalCredit(userId, delta, eventId),
    reloadChannels: async () => { gateway.routes = await loadRoutes(); },
    reloadPrices: async () => gateway.prices.replace(await store.prices.list()),
    reloadLimits: async () => gateway.policies.replace(await loadPolicies()),
    reloadFilters: async () => { gateway.filters = new FilterBook(await store.filters.list()); },
    reloadServices: services?.reload,
    reloadProxies: async () => {
      const previous = gateway.proxies;
      gateway.proxies = await loadProxies(previous);
      await gateway.proxies.retire(previous);
    },
    onError: (err) => logger.warn({ err }, 'change feed poll failed'),
  }, config.changePollMs);
  await sync.start();
  // Other nodes' spending reaches this node's live balances through the store.
  const refresh = config.metering.balanceRefreshMs > 0
    ? setInterval(() => ledger.refresh().catch((err: unknown) => logger.warn({ err }, 'balance refresh failed')), config.metering.balanceRefreshMs)
    : null;
  refresh?.unref();
  // The Redis balances against the record, exported as a drift metric.
  let lastDrift: DriftReport | null = null;
  const reconcile = redisCredits !== null && config.redis.reconcileMs > 0
    ? setInterval(() => {
      reconcileLedger(redisCredits, store, logger).then((r) => (lastDrift = r), (err: unknown) => logger.warn({ err }, 'ledger reconciliation failed'));
    }, config.redis.reconcileMs)
    : null;
  reconcile?.unref();
  if (metrics !== null && redisCredits !== null) {
    metrics.registerGauge('tollgate_ledger_drift_micros', 'Redis balance minus store balance, summed over users at the same debit_seq (last reconciliation).', () => lastDrift?.driftMicros ?? 0);
    metrics.registerGauge('tollgate_ledger_drifting_users', 'Users whose Redis balance differs from the store (last reconciliation).', () => lastDrift?.drifting ?? 0);
    metrics.registerGauge('tollgate_ledger_pending_sync', 'Commit notices and admin credits waiting to reach Redis.', () => redisCredits.pendingSync);
  }
  // With Redis, a change made anywhere is applied everywhere at once, not at the next poll.
  const signal: ChangeSignal | null = config.redisUrl === null ? null : openChangeSignal(config.redisUrl, config.redis.keyPrefix);
  await signal?.subscribe(() => void sync.pollNow());

  const server = createHttpServer(gateway, { store, sync, signal, logger, services: services?.router });
  const url = await server.listen(config.host, config.port);
  // Profiling is off by default, loopback-only, and needs the admin token.
  const profiler = config.profiling.enabled && config.adminToken !== null
    ? await startProfilingServer({ host: '127.0.0.1', port: config.profiling.port, adminToken: config.adminToken })
    : null;
  if (profiler !== null) logger.info({ url: profiler.url }, 'profiling endpoints listening');
  logger.info({ url, store: store.dialect, limiter: config.redisUrl ? 'redis' : 'memory', mockChannel: mock?.url ?? null, adminUrl: server.adminUrl }, 'tollgate listening');

  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    gateway.draining = true;
    await server.drain(config.server.shutdownGraceMs);
    await profiler?.close();
    sync.stop();
    if (refresh !== null) clearInterval(refresh);
    if (reconcile !== null) clearInterval(reconcile);
    await signal?.close();
    await writer.close(10_000);
    await tracer?.close();
    await services?.close();
    await limiter.close();
    await gateway.upstream.close();
    await gateway.proxies.close();
    await mock?.close();
    await store.close();
    gateway.latency.close(); // WebAssembly histograms are not garbage-collected
    await flushLogger(logger);
  })());

  return { config, store, gateway, server, sync, signal, logger, mock, services, url, close };
}

function builtinMockChannel(mock: MockUpstream): ChannelSpec {
  return {
    id: BUILTIN_ID,
    name: 'mock',
    type: 'mock',
    baseUrl: mock.url,
    weight: 1,
    priority: -1_000_000, // below any operator channel that serves the same model name
    enabled: true,
    models: MOCK_MODELS.map((model) => ({ model, upstreamModel: model })),
    keys: [{ id: BUILTIN_ID, secret: 'mock', enabled: true }],
  };
}

function createLimiter(config: Config, logger: Logger, metrics: GatewayMetrics | null, ledger: CreditLedger, credits: RedisCredits | null): Limiter {
  if (config.redisUrl === null) return new LedgerLimiter(new MemoryLimiter(), ledger);
  return new RedisLimiter({
    redis: config.redisUrl,
    keyPrefix: config.redis.keyPrefix,
    commandTimeoutMs: config.redis.commandTimeoutMs,
    failPolicy: config.redis.failPolicy,
    credits,
    onError: (err) => {
      metrics?.redisError('limiter');
      logger.warn({ err: err.message, failPolicy: config.redis.failPolicy }, 'redis limiter error');
    },
  });
}

function registerGauges(metrics: GatewayMetrics, gw: Gateway, store: Store): void {
  if (store.poolStats() !== null) metrics.registerPool('db', () => store.poolStats()!);
  const limiter = gw.limiter;
  // Only the Redis kind has a connection to watch; a memory limiter reporting
  // "redis available" would mislead dashboards of a single-node install.
  if (limiter.kind === 'redis') {
    metrics.registerGauge('tollgate_redis_available', 'Whether the Redis limiter has a usable connection (1) or runs on its fail policy (0).', () => (limiter.isAvailable() ? 1 : 0));
    metrics.registerGauge('tollgate_redis_pending_settlements', 'Limiter settlements waiting to ride on the next Redis call.', () => limiter.stats().pendingSettlements);
  }
  metrics.registerGauge('tollgate_requests_in_flight', 'Requests being served now.', () => gw.active.size);
  metrics.registerGauge('tollgate_writer_spool_records', 'Usage records now in the local spool (store slow or down).', () => gw.writer.stats().spooledRecords);
  // The queue depth is sampled rather than pushed from the hot path on every enqueue.
  setInterval(() => metrics.setWriterQueueDepth(gw.writer.stats().queued), 1_000).unref();
}
