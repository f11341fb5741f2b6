/**
 * Entry point of one worker thread of `serve --workers N`: a full gateway
 * (src/main.ts) whose admissions, settlements and usage records go to the
 * main thread (gate-client.ts), listening on the shared port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config.ts';
import { startTollgate, type Tollgate } from '../main.ts';
import { createLimiter } from '../metering/accounting.ts';
import { CreditGate } from '../metering/credit-gate.ts';
import { LocalGate } from '../gateway/admission-gate.ts';
import { createLogger, flushLogger } from '../observability/logger.ts';
import { GateLimiter, OwnerGateClient } from './gate-client.ts';
import { PortRpc } from './port-rpc.ts';
import type { FromWorker, OwnerAsks, ToWorker, WorkerAsks } from './owner-protocol.ts';
import type { WorkerLink } from './worker-link.ts';

/** What the main thread hands each worker at spawn. */
export interface WorkerData {
  config: Config;
  index: number;
}

const port = parentPort!;
const { config, index } = workerData as WorkerData;
const post = (msg: FromWorker) => port.postMessage(msg);
const logger = createLogger({ level: config.logLevel }).child({ worker: index });

let tollgate: Tollgate | null = null;
const rpc = new PortRpc<WorkerAsks, OwnerAsks>(post, {
  poll: async () => {
    await tollgate?.sync.pollNow();
    return null;
  },
  collect: async () => {
    const metrics = tollgate?.gateway.metrics ?? null;
    return metrics === null ? [] : metrics.registry.getMetricsAsJSON();
  },
  histograms: async () => tollgate?.gateway.latency.exportHistograms() ?? null,
  resetLatency: async () => {
    tollgate?.gateway.latency.reset();
    return null;
  },
});
// With Redis the worker judges limits, budgets and credits on Redis itself, in one script call as
// a single process does. A balance missing there is rebuilt from this worker's store (once started).
const redisLimiter = config.redisUrl === null ? null : createLimiter(config, logger, null, null, {
  users: { ledgerState: (userId) => tollgate!.store.users.ledgerState(userId) },
  events: { latestId: () => tollgate!.store.events.latestId(), since: (id, limit) => tollgate!.store.events.since(id, limit) },
});
const local = redisLimiter === null ? null : new LocalGate(redisLimiter.limiter, new CreditGate(null, redisLimiter.limiter, redisLimiter.redisCredits));
const gate = new OwnerGateClient((ops) => post({ t: 'ops', ops }), (userId, load) => rpc.ask('balance', { userId, load }), local);
let serving = false;
const link: WorkerLink = {
  index,
  allListening: () => serving,
  gate,
  writer: gate,
  limiter: redisLimiter?.limiter ?? new GateLimiter(gate, (budgets) => rpc.ask('budgetUsage', budgets)),
  pollEverywhere: async () => {
    await rpc.ask('pollEverywhere', null);
  },
  renderMetrics: () => rpc.ask('metrics', null),
  latencySnapshot: () => rpc.ask('latency', null),
  resetLatency: async () => {
    await rpc.ask('resetLatency', null);
  },
  replay: { check: (nonce, ts, now) => rpc.ask('replay', { nonce, ts, now }) },
  flush: () => gate.flush(),
};

port.on('message', (msg: ToWorker) => {
  if (msg.t === 'verdicts') gate.receive(msg.verdicts);
  else if (msg.t === 'serving') serving = true;
  else if (msg.t === 'drain') void stop();
  else rpc.receive(msg);
});

async function stop(): Promise<void> {
  try {
    await tollgate?.close();
    await redisLimiter?.limiter.close();
  } finally {
    await flushLogger(logger);
    post({ t: 'closed' });
    port.close();
  }
}

try {
  tollgate = await startTollgate(config, { logger, worker: link });
  post({ t: 'listening', url: tollgate.url, adminUrl: tollgate.server.adminUrl });
} catch (err) {
  post({ t: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) });
  port.close();
}
