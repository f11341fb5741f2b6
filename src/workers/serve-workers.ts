/**
 * `serve --workers N` (N ≥ 2): N worker threads each run the whole gateway
 * on their own event loop and share the port (SO_REUSEPORT: the kernel
 * spreads connections over the listeners). The main thread serves no HTTP;
 * it owns what must have ONE holder for limits and balances to stay exact —
 * the limiter, the credit ledger and the usage writer (metering/accounting.ts)
 * — and answers the workers' admissions and settlements (gate-owner.ts). It
 * also follows the change feed for balances, gathers /metrics and
 * /api/metrics from every worker, and on SIGTERM drains every worker before
 * flushing the writer. Why threads and not node:cluster: docs/architecture.md.
 */
import type { BudgetPolicy } from '../limiter/budget.ts';
import { createServer, type AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { openConfiguredStore } from '../main.ts';
import { startAccounting } from '../metering/accounting.ts';
import { GatewayMetrics } from '../observability/metrics.ts';
import { createLogger, flushLogger } from '../observability/logger.ts';
import { LatencyStats, type EncodedLatency } from '../observability/latency-stats.ts';
import { ChangeSync } from '../sync/change-sync.ts';
import { openChangeSignal } from '../sync/change-signal.ts';
import { ReplayGuard } from '../services/hop/replay-guard.ts';
import { GateOwnerSession } from './gate-owner.ts';
import { PortRpc } from './port-rpc.ts';
import type { FromWorker, OwnerAsks, RegistryJson, ToWorker, WorkerAsks } from './owner-protocol.ts';
import type { WorkerData } from './worker-main.ts';

export interface WorkerServer {
  readonly url: string;
  readonly adminUrl: string | null;
  readonly logger: Logger;
  /** How many worker threads serve the port. */
  readonly workers: number;
  /** Drain every worker, then flush the writer and close. Idempotent. */
  close(): Promise<void>;
  /** Resolves when a worker died unexpectedly (the server should stop: its admissions were released). */
  readonly failed: Promise<Error>;
}

/** One worker thread and the main thread's state for it. */
class WorkerHandle {
  readonly index: number;
  readonly thread: Worker;
  readonly session: GateOwnerSession;
  readonly rpc: PortRpc<OwnerAsks, WorkerAsks>;
  readonly closed: Promise<void>;
  #onClosed!: () => void;

  constructor(index: number, thread: Worker, session: GateOwnerSession, rpc: PortRpc<OwnerAsks, WorkerAsks>) {
    this.index = index;
    this.thread = thread;
    this.session = session;
    this.rpc = rpc;
    this.closed = new Promise((resolve) => { this.#onClosed = resolve; });
  }

  markClosed(): void {
    this.#onClosed();
  }
}

const workerEntry = new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

export async function serveWithWorkers(config: Config, count: number): Promise<WorkerServer> {
  const logger = createLogger({ level: config.logLevel });
  const store = await openConfiguredStore(config);
  const metrics = config.metrics ? new GatewayMetrics() : null;
  const accounting = await startAccounting(config, store, logger, metrics);
  const noop = async () => undefined;
  // The workers follow the feed for their own tables; here only credits matter (the one ledger).
  const sync = new ChangeSync(store, {
    keyRevoked: () => undefined,
    keyChanged: () => undefined,
    userDisabled: () => undefined,
    balanceChanged: (userId, delta, eventId) => accounting.credits.externalCredit(userId, delta, eventId),
    reloadChannels: noop,
    reloadPrices: noop,
    reloadLimits: noop,
    reloadFilters: noop,
    reloadBudgets: noop,
    onError: (err) => logger.warn({ err }, 'change feed poll failed'),
  }, config.changePollMs);
  await sync.start();
  const signal = config.redisUrl === null ? null : openChangeSignal(config.redisUrl, config.redis.keyPrefix);
  await signal?.subscribe(() => void sync.pollNow());

  let stopping = false;
  let reportFailure!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => { reportFailure = resolve; });
  const workers: WorkerHandle[] = [];

  // One nonce memory for every worker's hop ingress: a replay to another worker is a replay.
  const replayGuard = new ReplayGuard(config.services.hop.replayWindowMs, config.services.hop.maxNonces);
  const answers = {
    replay: async ({ nonce, ts, now }: { nonce: string; ts: number; now: number }) => replayGuard.check(nonce, ts, now),
    balance: ({ userId, load }: { userId: number; load: boolean }) => accounting.gate.balance(userId, load),
    budgetUsage: (budgets: readonly BudgetPolicy[]) => accounting.limiter.budgetUsage(budgets),
    pollEverywhere: async () => {
      await Promise.all([sync.pollNow(), ...workers.map((w) => w.rpc.ask('poll', null))]);
      return null;
    },
    metrics: () => aggregateMetrics(metrics, workers),
    latency: async () => LatencyStats.merge((await Promise.all(workers.map((w) => w.rpc.ask('histograms', null)))) as EncodedLatency[]),
    resetLatency: async () => {
      await Promise.all(workers.map((w) => w.rpc.ask('resetLatency', null)));
      return null;
    },
  };

  const spawn = (index: number, port: number) => new Promise<{ url: string; adminUrl: string | null }>((resolve, reject) => {
    const data: WorkerData = { config: { ...config, port }, index };
    const thread = new Worker(workerEntry, { workerData: data });
    const post = (msg: ToWorker) => thread.postMessage(msg);
    const session = new GateOwnerSession(accounting.gate, accounting.writer, (verdicts) => post({ t: 'verdicts', verdicts }));
    const handle = new WorkerHandle(index, thread, session, new PortRpc<OwnerAsks, WorkerAsks>(post, answers));
    workers.push(handle);
    thread.on('message', (msg: FromWorker) => {
      if (msg.t === 'ops') session.run(msg.ops);
      else if (msg.t === 'listening') resolve(msg);
      else if (msg.t === 'failed') reject(new Error(`worker ${index} failed to start: ${msg.error}`));
      else if (msg.t === 'closed') handle.markClosed();
      else handle.rpc.receive(msg);
    });
    thread.on('error', (err) => logger.error({ err, worker: index }, 'worker thread error'));
    thread.on('exit', (code) => {
      handle.rpc.abandon(`worker ${index} exited`);
      handle.session.releaseAll();
      handle.markClosed();
      reject(new Error(`worker ${index} exited with code ${code} while starting`));
      if (!stopping) reportFailure(new Error(`worker ${index} exited with code ${code}`));
    });
  });

  // All workers start at once on one port; port 0 ("any free port") is resolved here first.
  const port = config.port === 0 ? await freePort(config.host) : config.port;
  let first: { url: string; adminUrl: string | null };
  try {
    [first] = await Promise.all(Array.from({ length: count }, (_, i) => spawn(i, port)));
  } catch (err) {
    stopping = true;
    await Promise.all(workers.map((w) => w.thread.terminate()));
    sync.stop();
    await signal?.close();
    await accounting.close();
    await store.close();
    throw err;
  }
  for (const w of workers) w.thread.postMessage({ t: 'serving' } satisfies ToWorker);
  logger.info({ url: first.url, workers: count, store: store.dialect, limiter: config.redisUrl ? 'redis' : 'memory', adminUrl: first.adminUrl }, 'tollgate listening');

  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    stopping = true;
    for (const w of workers) w.thread.postMessage({ t: 'drain' } satisfies ToWorker);
    // Each worker drains its requests and streams, sends its last settlements and records, then says so.
    await Promise.all(workers.map((w) => w.closed));
    const open = workers.reduce((n, w) => n + w.session.open, 0);
    if (open > 0) logger.warn({ open }, 'admissions still open after the workers closed; released');
    for (const w of workers) w.session.releaseAll();
    sync.stop();
    await signal?.close();
    await accounting.close();
    await store.close();
    await Promise.all(workers.map((w) => w.thread.terminate()));
    await flushLogger(logger);
  })());

  return { url: first.url, adminUrl: first.adminUrl, logger, workers: count, close, failed };
}

/**
 * One /metrics for the whole server: every worker's registry and the main
 * thread's (process metrics, writer), summed per label set the way
 * prom-client's AggregatorRegistry does for node:cluster, plus
 * tollgate_worker_requests_total{worker} to see how the kernel spread the load.
 */
async function aggregateMetrics(own: GatewayMetrics | null, workers: readonly WorkerHandle[]): Promise<{ contentType: string; body: string }> {
  const parts = await Promise.all(workers.map((w) => w.rpc.ask('collect', null)));
  const perWorker = {
    name: 'tollgate_worker_requests_total',
    help: 'Requests finished, by worker thread (serve --workers).',
    type: 'counter',
    aggregator: 'sum',
    values: parts.map((p, i) => ({ labels: { worker: String(i) }, value: requestCount(p) })),
  };
  const all: object[] = [...parts, [perWorker]];
  if (own !== null) all.push(await own.registry.getMetricsAsJSON());
  const registry = AggregatorRegistry.aggregate(all);
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** A port free now on `host` (the kernel's pick for port 0), for every worker to share. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function requestCount(part: RegistryJson): number {
  const m = part.find((x) => x.name === 'tollgate_requests_total') as unknown as { values: { value: number }[] } | undefined;
  return m === undefined ? 0 : m.values.reduce((n, v) => n + v.value, 0);
}
