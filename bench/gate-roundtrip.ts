/**
 * Cost of an admission under `serve --workers N`: a worker's admit + settle
 * answered by the main thread's LocalGate over the worker's port
 * (src/workers/gate-client.ts, gate-owner.ts), against the same admit +
 * settle in process (single-process serve).
 *
 *   node dist/bench/gate-roundtrip.js [--n 200000]
 *
 * Three figures, each the median of 5 rounds:
 * - in process: LocalGate.admit + settle on one thread (what --workers 1 pays);
 * - sequential: one admission in flight at a time, so every admit is one
 *   message each way with nothing to batch with: the latency a request adds;
 * - concurrent: 256 admissions in flight (as under load), batched per
 *   event-loop turn: the throughput cost per admission, and the main
 *   thread's busy time per admission (event-loop utilisation × wall time),
 *   which bounds how many admissions per second one main thread can answer.
 * Each admission carries 4 policies (global, user, key, model; RPM, TPM and
 * concurrency, never refusing) and a credit hold, like the bench's full chain.
 */
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { LocalGate } from '../src/gateway/admission-gate.ts';
import type { GateRequest } from '../src/gateway/admission-gate.ts';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import { CreditLedger } from '../src/metering/ledger.ts';
import { CreditGate } from '../src/metering/credit-gate.ts';
import { LedgerLimiter } from '../src/metering/ledger-limiter.ts';
import { OwnerGateClient } from '../src/workers/gate-client.ts';
import { GateOwnerSession } from '../src/workers/gate-owner.ts';
import type { Op, WireVerdict } from '../src/workers/owner-protocol.ts';

const REQUEST: GateRequest = {
  userId: 1,
  policies: (['global', 'user', 'key', 'model'] as const).map((scope) => ({ scope, subject: scope === 'global' ? '' : '1', rpm: 1e12, tpm: 1e15, concurrency: 1e6 })),
  tokens: 120,
  credit: { userId: 1, micros: 500, holdId: 'bench' },
};

/** A store of one user with an endless balance (the ledger reads only these three calls). */
const ledgerStore = {
  users: { balances: async (ids: number[]) => new Map(ids.map((id) => [id, Number.MAX_SAFE_INTEGER / 2])) },
  events: { latestId: async () => 0, since: async () => [] },
};

if (isMainThread) await main();
else await workerSide();

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' } } });
  const n = Number(values.n);
  const ledger = new CreditLedger(ledgerStore);
  const limiter = new LedgerLimiter(new MemoryLimiter(), ledger);
  const gate = new LocalGate(limiter, new CreditGate(ledger, limiter, null));
  await gate.balance(1, true);

  const inProcess: number[] = [];
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const v = gate.admit(REQUEST);
      if (v instanceof Promise || v.kind !== 'admitted') throw new Error('expected a synchronous admission');
      gate.settle(v.grant, 100, 400);
    }
    inProcess.push(((performance.now() - t0) * 1000) / n);
  }

  const worker = new Worker(new URL(import.meta.url), { workerData: { n } });
  const session = new GateOwnerSession(gate, { enqueue: () => undefined }, (verdicts) => worker.postMessage({ t: 'verdicts', verdicts }));
  const mainBusy: number[] = [];
  let elu = performance.eventLoopUtilization();
  let since = performance.now();
  const results = new Promise<{ sequential: number[]; concurrent: number[] }>((resolve) => {
    worker.on('message', (msg: { t: 'ops'; ops: Op[] } | { t: 'done'; sequential: number[]; concurrent: number[] } | { t: 'mark'; admissions: number }) => {
      if (msg.t === 'ops') session.run(msg.ops);
      else if (msg.t === 'mark') {
        // admissions > 0 ends a concurrent phase: busy µs of this thread per admission in it.
        const now = performance.eventLoopUtilization();
        if (msg.admissions > 0) mainBusy.push((performance.eventLoopUtilization(now, elu).utilization * (performance.now() - since) * 1000) / msg.admissions);
        elu = now;
        since = performance.now();
      } else resolve(msg);
    });
  });
  const { sequential, concurrent } = await results;
  await worker.terminate();
  const line = (name: string, xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return `${name.padEnd(40)} ${sorted[2].toFixed(2).padStart(7)} µs  (min ${sorted[0].toFixed(2)}, max ${sorted[4].toFixed(2)})`;
  };
  console.log(`admit + settle, 4 policies + credit hold, median of 5 rounds (n = ${n} in process)`);
  console.log(line('in process (LocalGate)', inProcess));
  console.log(line('worker ↔ main, one at a time (latency)', sequential));
  console.log(line('worker ↔ main, 256 in flight (per admission)', concurrent));
  console.log(line('  of which the main thread busy', mainBusy));
}

async function workerSide(): Promise<void> {
  const port = parentPort!;
  const client = new OwnerGateClient((ops) => port.postMessage({ t: 'ops', ops }), async () => null, null);
  port.on('message', (msg: { t: 'verdicts'; verdicts: [number, WireVerdict][] }) => client.receive(msg.verdicts));
  const n = 20_000;
  const admitSettle = async () => {
    const v = await client.admit(REQUEST);
    if (v.kind !== 'admitted') throw new Error(`refused: ${v.kind}`);
    client.settle(v.grant, 100, 400);
  };
  const sequential: number[] = [];
  const concurrent: number[] = [];
  for (let round = 0; round < 5; round++) {
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await admitSettle();
    sequential.push(((performance.now() - t0) * 1000) / n);
    port.postMessage({ t: 'mark', admissions: 0 });
    t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next++ < n * 5) await admitSettle();
    }));
    concurrent.push(((performance.now() - t0) * 1000) / (n * 5));
    port.postMessage({ t: 'mark', admissions: n * 5 });
  }
  port.postMessage({ t: 'done', sequential, concurrent });
}
