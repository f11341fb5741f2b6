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
import { CrashBudget, DEFAULT_CRASH_BUDGET } from './crash-budget.ts';
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
  /** Resolves when workers keep crashing (CrashBudget) and the server should stop; a single crash is replaced. */
  readonly failed: Promise<Error>;
}

/** One worker thread and the main thread's state for it. */
class WorkerHandle {
  readonly index: number;
  readonly thread: Worker;
  readonly session: GateOwnerSession;
  readonly rpc: PortRpc<OwnerAsks, WorkerAsks>;
  readonly closed: Promise<void>;
  /** Listening on the port (said so) and not exited: the one to ask for metrics and to drain. */
  listening = false;
  exited = false;
  #onClosed!: () => void;

  constructor(index: number, thread: Worker, session: GateOwnerSession, rpc: PortRpc<OwnerAsks, WorkerAsks>) {
    this.index = index;
    this.thread = thread;
    this.session = session;
    this.rpc = rpc;
    this.closed = new Promise((resolve) => { this.#onClosed = resolve; });
  }

  get live(): boolean {
    return this.listening && !this.exited;
  }

  markClosed(): void {
    this.#onClosed();
  }
}

const workerEntry = new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Test hook, off unless TOLLGATE_TEST_WORKER_CRASH names a worker index: then
 * SIGUSR2 terminates that worker's thread. Terminating from the main thread is
 * the least intrusive way to reproduce a crash: no code path in the worker or
 * in request handling changes, and the worker gets no chance to settle or
 * flush, the worst case for what the main thread must release.
 */
function crashHookTarget(): number | null {
  const raw = process.env.TOLLGATE_TEST_WORKER_CRASH;
  return raw === undefined || !/^\d+$/.test(raw) ? null : Number(raw);
}

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

  let started = false;
  let stopping = false;
  let reportFailure!: (err: Error) => void;
  const failed = new Promise<Error>((resolve) => { reportFailure = resolve; });
  /** The current thread of each worker index (a replaced one takes its predecessor's slot). */
  const workers: WorkerHandle[] = [];
  const restarts: number[] = Array.from({ length: count }, () => 0);
  const pendingRestarts = new Set<NodeJS.Timeout>();
  const crashes = new CrashBudget();

  /** Asks every listening worker; a worker that dies meanwhile is left out, not waited for. */
  const askLive = async (kind: keyof OwnerAsks): Promise<{ index: number; body: unknown }[]> => {
    const live = workers.filter((w) => w.live);
    const replies = await Promise.allSettled(live.map((w) => w.rpc.ask(kind, null)));
    return live.flatMap((w, i) => {
      const r = replies[i];
      return r.status === 'fulfilled' ? [{ index: w.index, body: r.value as unknown }] : [];
    });
  };

  // One nonce memory for every worker's hop ingress: a replay to another worker is a replay.
  const replayGuard = new ReplayGuard(config.services.hop.replayWindowMs, config.services.hop.maxNonces);
  const answers = {
    replay: async ({ nonce, ts, now }: { nonce: string; ts: number; now: number }) => replayGuard.check(nonce, ts, now),
    balance: ({ userId, load }: { userId: number; load: boolean }) => accounting.gate.balance(userId, load),
    budgetUsage: (budgets: readonly BudgetPolicy[]) => accounting.limiter.budgetUsage(budgets),
    pollEverywhere: async () => {
      await Promise.all([sync.pollNow(), askLive('poll')]);
      return null;
    },
    metrics: async () => aggregateMetrics(metrics, (await askLive('collect')) as { index: number; body: RegistryJson }[], restarts),
    latency: async () => LatencyStats.merge((await askLive('histograms')).map((a) => a.body) as EncodedLatency[]),
    resetLatency: async () => {
      await askLive('resetLatency');
      return null;
    },
  };

  const spawn = (index: number, port: number) => new Promise<{ url: string; adminUrl: string | null }>((resolve, reject) => {
    const data: WorkerData = { config: { ...config, port }, index };
    const thread = new Worker(workerEntry, { workerData: data });
    const post = (msg: ToWorker) => thread.postMessage(msg);
    const session = new GateOwnerSession(accounting.gate, accounting.writer, (verdicts) => post({ t: 'verdicts', verdicts }));
    const handle = new WorkerHandle(index, thread, session, new PortRpc<OwnerAsks, WorkerAsks>(post, answers));
    workers[index] = handle;
    thread.on('message', (msg: FromWorker) => {
      if (msg.t === 'ops') session.run(msg.ops);
      else if (msg.t === 'listening') {
        handle.listening = true;
        resolve(msg);
      } else if (msg.t === 'failed') reject(new Error(`worker ${index} failed to start: ${msg.error}`));
      else if (msg.t === 'closed') handle.markClosed();
      else handle.rpc.receive(msg);
    });
    thread.on('error', (err) => logger.error({ err, worker: index }, 'worker thread error'));
    thread.on('exit', (code) => {
      // Whatever the worker held goes back here, once: its requests died with it.
      handle.exited = true;
      handle.rpc.abandon(`worker ${index} exited`);
      handle.session.releaseAll();
      handle.markClosed();
      reject(new Error(`worker ${index} exited with code ${code} while starting`));
      // During the first start the start-up itself fails (below); during shutdown an exit is expected.
      if (started && !stopping) replace(index, code);
    });
  });

  const replace = (index: number, code: number) => {
    const delayMs = crashes.crashed(Date.now());
    if (delayMs === null) {
      logger.error({ worker: index, code, crashes: crashes.recent, windowMs: DEFAULT_CRASH_BUDGET.windowMs }, 'worker keeps crashing; stopping the server');
      reportFailure(new Error(`worker ${index} exited with code ${code}: ${crashes.recent} worker crashes within ${DEFAULT_CRASH_BUDGET.windowMs / 1000} s`));
      return;
    }
    restarts[index]++;
    logger.error({ worker: index, code, restartInMs: delayMs }, 'worker exited unexpectedly; its admissions were released, replacing it');
    const timer = setTimeout(() => {
      pendingRestarts.delete(timer);
      if (stopping) return;
      spawn(index, port).then(
        () => {
          workers[index].thread.postMessage({ t: 'serving' } satisfies ToWorker);
          logger.info({ worker: index }, 'worker replaced and listening');
        },
        // Its exit (forced here when it only said it failed) counts as the next crash.
        (err: Error) => {
          logger.error({ err: err.message, worker: index }, 'replacement worker did not start');
          void workers[index].thread.terminate();
        },
      );
    }, delayMs);
    pendingRestarts.add(timer);
  };

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
  started = true;
  for (const w of workers) w.thread.postMessage({ t: 'serving' } satisfies ToWorker);
  logger.info({ url: first.url, workers: count, store: store.dialect, limiter: config.redisUrl ? 'redis' : 'memory', adminUrl: first.adminUrl }, 'tollgate listening');
  const crashTarget = crashHookTarget();
  if (crashTarget !== null) process.on('SIGUSR2', () => void workers[crashTarget]?.thread.terminate());

  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    stopping = true;
    for (const timer of pendingRestarts) clearTimeout(timer);
    pendingRestarts.clear();
    // A listening worker drains; a replacement still starting is stopped (its exit releases what it held).
    for (const w of workers) {
      if (w.live) w.thread.postMessage({ t: 'drain' } satisfies ToWorker);
      else if (!w.exited) void w.thread.terminate();
    }
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
 * tollgate_worker_requests_total{worker} to see how the kernel spread the load
 * (a replaced worker starts again from 0: a counter reset) and
 * tollgate_worker_restarts_total{worker}. A worker being replaced is left out.
 */
async function aggregateMetrics(own: GatewayMetrics | null, parts: readonly { index: number; body: RegistryJson }[], restarts: readonly number[]): Promise<{ contentType: string; body: string }> {
  const perWorker = {
    name: 'tollgate_worker_requests_total',
    help: 'Requests finished, by worker thread (serve --workers).',
    type: 'counter',
    aggregator: 'sum',
    values: parts.map((p) => ({ labels: { worker: String(p.index) }, value: requestCount(p.body) })),
  };
  const restarted = {
    name: 'tollgate_worker_restarts_total',
    help: 'Worker threads replaced after exiting unexpectedly, by worker index (serve --workers).',
    type: 'counter',
    aggregator: 'sum',
    values: restarts.map((n, i) => ({ labels: { worker: String(i) }, value: n })),
  };
  const all: object[] = [...parts.map((p) => p.body), [perWorker, restarted]];
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
