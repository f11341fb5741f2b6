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
import type { LimitPolicy } from './limiter/limiter.ts';
import { PolicyBook } from './limiter/policy-book.ts';
import { budgetPolicy } from './limiter/budget.ts';
import { PriceBook } from './metering/pricing.ts';
import { FilterBook } from './filters/filter-book.ts';
import { startTracing } from './observability/tracing.ts';
import { registerAccountingGauges, startAccounting, type Accounting } from './metering/accounting.ts';
import { countCompletionTokens } from './metering/token-estimate.ts';
import { GatewayMetrics } from './observability/metrics.ts';
import { LatencyStats } from './observability/latency-stats.ts';
import { createLogger, flushLogger, logRequest } from './observability/logger.ts';
import { startMockUpstream, type MockUpstream } from './mock/mock-upstream.ts';
import { startProfilingServer } from './observability/profiler.ts';
import { Gateway } from './gateway/gateway.ts';
import { ResponseOwners } from './gateway/response-owners.ts';
import { StoreHealth } from './gateway/store-health.ts';
import { ChangeSync } from './sync/change-sync.ts';
import { openChangeSignal, type ChangeSignal } from './sync/change-signal.ts';
import { createHttpServer, type HttpServer } from './edge/http-server.ts';
import type { WorkerLink } from './workers/worker-link.ts';
import { startServiceNode, type ServiceNode } from './services/service-node.ts';
import { openCaches } from './cache/caches.ts';

/** The models of the built-in mock channel, free by default so a new install answers at once. */
export const MOCK_MODELS = ['mock-gpt', 'mock-gpt-large', 'mock-embed'] as const;
/** Id of the built-in mock channel and its key (store ids start at 1). */
const BUILTIN_ID = 0;

export interface Tollgate {
  readonly config: Config;
  readonly store: Store;
  readonly gateway: Gateway;
  /** Limiter, ledger and usage writer; null in a worker of `serve --workers N` (the main thread holds them). */
  readonly accounting: Accounting | null;
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
  /**
   * Set in a worker of `serve --workers N` (src/workers/worker-main.ts): limits,
   * credits and usage records go to the main thread through it, and the
   * listener shares the port with the other workers (SO_REUSEPORT).
   */
  worker?: WorkerLink;
}

export async function startTollgate(config: Config, opts: StartOptions = {}): Promise<Tollgate> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const store = await openConfiguredStore(config);
  const mock = config.mockChannel ? await startMockUpstream({ host: '127.0.0.1', port: 0 }) : null;

  const health = new HealthBook(config.upstream.cooldownBaseMs, config.upstream.cooldownMaxMs);
  const loadRoutes = async () => new RouteTable([...(mock === null ? [] : [builtinMockChannel(mock)]), ...(await store.channels.listFull())], health);
  const loadPolicies = async (): Promise<LimitPolicy[]> => (await store.limits.list()).map((p) => ({ scope: p.scope, subject: p.subject, rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency }));
  const loadBudgets = async () => (await store.budgets.list()).map((b) => budgetPolicy(b.scope, String(b.subjectId), b.period, b.mode, b.limitMicros, b.userId));

  const worker = opts.worker ?? null;
  // A worker thread's process metrics (CPU, memory) are the whole process's: only the main thread reports them.
  const metrics = config.metrics ? new GatewayMetrics({ defaultMetrics: worker === null }) : null;
  const tracer = await startTracing(config.otel.endpoint, config.otel.serviceName);
  const proxyMetrics = metrics === null ? null : new ProxyMetrics(metrics.registry);
  const exempt = mock === null ? [] : [new URL(mock.url).host];
  const proxyOptions = { policy: config.upstream, connectTimeoutMs: config.upstream.connectTimeoutMs, connections: config.upstream.connectionsPerOrigin, exempt };
  const loadProxies = async (previous: ProxyTable | null) => new ProxyTable(await store.proxies.listFull(), await store.proxies.bindings(), health, proxyOptions, (name) => proxyMetrics?.countersFor(name) ?? NO_PROXY_COUNTERS, previous);
  const accounting = worker === null ? await startAccounting(config, store, logger, metrics) : null;
  const limiter = accounting?.limiter ?? worker!.limiter;
  if (accounting === null && metrics !== null) registerAccountingGauges(metrics, limiter, null);
  const caches = openCaches(config, metrics?.registry ?? null, (err) => {
    metrics?.redisError('cache');
    logger.debug({ err: err.message }, 'redis cache error');
  });
  // Requests before the first Redis connection would miss the shared cache level.
  await caches.start(2_000);

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
    policies: new PolicyBook(await loadPolicies(), await loadBudgets()),
    prices: new PriceBook(await store.prices.list(), mock === null ? [] : MOCK_MODELS),
    gate: accounting?.gate ?? worker!.gate,
    writer: accounting?.writer ?? worker!.writer,
    metrics,
    latency: new LatencyStats(),
    requestLog: config.requestLog ? (o) => logRequest(logger, o) : null,
    tracer,
    countTokens: countCompletionTokens,
    onError: (err, ctx) => logger.error({ err, requestId: ctx.requestId }, 'request failed inside the gateway'),
    storeHealth: new StoreHealth(() => store.keys.findByHash('0'.repeat(64))),
    onStoreError: (err) => logger.warn({ err: (err as Error).message }, 'store unreachable on the request path'),
    responseCache: caches.response,
    accountCache: caches.account,
    responseOwners: new ResponseOwners((id) => store.usage.responseOwner(id)),
  });
  if (metrics !== null) registerGauges(metrics, gateway, store);
  const services = await startServiceNode(config, store, gateway, metrics, logger, worker?.replay ?? null);

  const sync = new ChangeSync(store, {
    keyRevoked: (hash) => gateway.keys.forget(hash),
    // The next request reads the key's new rules from the store.
    keyChanged: (hash) => gateway.keys.forget(hash),
    userDisabled: () => gateway.keys.clear(),
    // With workers, balances live in the main thread, which follows the feed itself.
    balanceChanged: (userId, delta, eventId) => accounting?.credits.externalCredit(userId, delta, eventId),
    reloadChannels: async () => { gateway.routes = await loadRoutes(); },
    reloadPrices: async () => gateway.prices.replace(await store.prices.list()),
    reloadLimits: async () => gateway.policies.replace(await loadPolicies()),
    reloadBudgets: async () => gateway.policies.replaceBudgets(await loadBudgets()),
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
  // With Redis, a change made anywhere is applied everywhere at once, not at the next poll.
  const signal: ChangeSignal | null = config.redisUrl === null ? null : openChangeSignal(config.redisUrl, config.redis.keyPrefix);
  await signal?.subscribe(() => void sync.pollNow());

  const server = createHttpServer(gateway, {
    store,
    sync: worker === null ? sync : { pollNow: () => worker.pollEverywhere() },
    signal,
    logger,
    services: services?.router,
    observe: worker === null ? null : { allListening: () => worker.allListening(), metrics: () => worker.renderMetrics(), latency: () => worker.latencySnapshot(), resetLatency: () => worker.resetLatency() },
    // Workers share the port; only the first serves the separate admin listener.
    worker: worker === null ? null : { reusePort: true, adminListener: worker.index === 0 },
  });
  const url = await server.listen(config.host, config.port);
  // Profiling is off by default, loopback-only, and needs the admin token.
  const profiler = config.profiling.enabled && config.adminToken !== null && (worker?.index ?? 0) === 0
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
    await signal?.close();
    // A worker's last settlements and records go to the main thread, which flushes the one writer.
    await tracer?.close();
    await services?.close();
    worker?.flush();
    // The writer flushes (or spools) what is left; the limiter closes after the service routes that use it.
    await accounting?.close();
    caches.close();
    await gateway.upstream.close();
    await gateway.proxies.close();
    await mock?.close();
    await store.close();
    gateway.latency.close(); // WebAssembly histograms are not garbage-collected
    await flushLogger(logger);
  })());

  return { config, store, gateway, accounting, server, sync, signal, logger, mock, services, url, close };
}

/** The store of the configuration (SQLite in dataDir, or DATABASE_URL), with the master key loaded. */
export function openConfiguredStore(config: Config): Promise<Store> {
  const loadKeys = () => loadKeyRing({ env: process.env, dataDir: config.dataDir });
  return openStore({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    sqlite: config.sqlite,
    postgres: { poolSize: config.postgres.poolSize, schema: config.postgres.schema },
    // Loaded now, not at first use: a bad or unsafe master key stops the start, and the key file exists from the first start on.
    secrets: new SecretBox(loadKeys, loadKeys()),
  });
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

function registerGauges(metrics: GatewayMetrics, gw: Gateway, store: Store): void {
  if (store.poolStats() !== null) metrics.registerPool('db', () => store.poolStats()!);
  metrics.registerGauge('tollgate_requests_in_flight', 'Requests being served now.', () => gw.active.size);
}
