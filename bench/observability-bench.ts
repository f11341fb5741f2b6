/**
 * Microbenchmark of the per-request observability work:
 * GatewayMetrics.recordRequest, LatencyStats.record (WASM and JS engines),
 * logRequest to /dev/null through the asynchronous destination, request ids,
 * and all of it together. Each case runs for a bounded time (default 0.4 s,
 * `--seconds N` to change) and reports ops/s, wall ns/op and process CPU ns/op
 * (process.cpuUsage, so the log writer's thread-pool writes are counted too).
 *
 *   npx tsc -p . && node dist/bench/observability-bench.js
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import pino from 'pino';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { LatencyStats } from '../src/observability/latency-stats.ts';
import { createLogger, flushLogger, logRequest, requestFields } from '../src/observability/logger.ts';
import { requestIdFrom } from '../src/observability/request-id.ts';
import { emptyRequestOutcome, type RequestOutcome } from '../src/observability/request-outcome.ts';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 0.4;
/** Ops between yields, so asynchronous log writes complete as they would between requests. */
const BATCH = 256;

/** A realistic mix: 8 models × 4 channels, a few statuses, 60% streamed. */
function outcomes(): RequestOutcome[] {
  const out: RequestOutcome[] = [];
  for (let i = 0; i < 64; i++) {
    const o = emptyRequestOutcome();
    o.requestId = `req-${i}`;
    o.route = i % 10 === 0 ? 'embeddings' : 'chat';
    o.model = `model-${i % 8}`;
    o.channel = `channel-${i % 4}`;
    o.status = i % 16 === 0 ? 502 : i % 21 === 0 ? 429 : 200;
    o.outcome = o.status === 200 ? 'ok' : o.status === 429 ? 'refused' : 'upstream_error';
    o.errorClass = o.status === 502 ? 'upstream_5xx' : null;
    o.stream = i % 5 < 3;
    o.latencyMs = 50 + ((i * 37) % 900) + 0.123;
    o.upstreamMs = o.latencyMs - 0.4;
    o.ttftMs = o.stream ? 20 + ((i * 13) % 200) + 0.5 : -1;
    o.promptTokens = 100 + i;
    o.completionTokens = 20 + i;
    o.costMicros = 1234 + i;
    o.attempts = o.status === 429 ? 0 : 1;
    o.userId = i;
    o.keyId = i * 2;
    out.push(o);
  }
  return out;
}

interface Result {
  name: string;
  ops: number;
  wallNs: number;
  cpuNs: number;
}

async function measure(name: string, fn: (o: RequestOutcome, i: number) => unknown, afterwards?: () => Promise<void>): Promise<Result> {
  const pool = outcomes();
  // Warm-up: let the JIT settle and the caches fill.
  for (let i = 0; i < 20_000; i++) fn(pool[i & 63], i);
  if (afterwards) await afterwards();
  let sink = 0;
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(SECONDS * 1e9));
  while (process.hrtime.bigint() < deadline) {
    for (let i = 0; i < BATCH; i++, ops++) {
      if (fn(pool[ops & 63], ops) === undefined) sink++;
    }
    await yieldToLoop();
  }
  if (afterwards) await afterwards();
  const wall = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (sink < 0) console.log(sink);
  return { name, ops, wallNs: wall / ops, cpuNs: ((cpu.user + cpu.system) * 1000) / ops };
}

function print(r: Result): void {
  const opsPerSec = Math.round(r.ops / ((r.wallNs * r.ops) / 1e9));
  console.log(`${r.name.padEnd(48)} ${String(opsPerSec).padStart(11)} ops/s ${r.wallNs.toFixed(0).padStart(7)} ns/op wall ${r.cpuNs.toFixed(0).padStart(7)} ns/op cpu`);
}

async function main(): Promise<void> {
  console.log(`observability microbenchmark, Node ${process.version}, ${SECONDS}s per case`);
  const metrics = new GatewayMetrics();
  const statsWasm = new LatencyStats({ engine: 'wasm' });
  const statsJs = new LatencyStats({ engine: 'js' });
  const logger = createLogger({ level: 'info', destination: '/dev/null' });
  const pinoPlain = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 }));
  const flush = () => flushLogger(logger);
  const flushPlain = () => flushLogger(pinoPlain);

  const results: Result[] = [];
  const run = async (...args: Parameters<typeof measure>) => {
    const r = await measure(...args);
    print(r);
    results.push(r);
  };
  await run('metrics.recordRequest', (o) => metrics.recordRequest(o));
  await run('latencyStats.record (wasm)', (o) => statsWasm.record(o));
  await run('latencyStats.record (js)', (o) => statsJs.record(o));
  await run('logRequest (async, /dev/null)', (o) => logRequest(logger, o), flush);
  await run('pino logger.info(fields) for comparison', (o) => pinoPlain.info(requestFields(o), 'request'), flushPlain);
  await run('requestIdFrom(undefined) (generated)', () => requestIdFrom(undefined));
  await run('crypto.randomUUID() for comparison', () => randomUUID());
  await run('requestIdFrom(valid 36-char header)', () => requestIdFrom('0f8fad5b-d9cb-469f-a165-70867728950e'));
  await run('all per request (wasm stats)', (o) => {
    requestIdFrom(undefined);
    metrics.recordRequest(o);
    statsWasm.record(o);
    logRequest(logger, o);
  }, flush);
  await run('all per request (js stats)', (o) => {
    requestIdFrom(undefined);
    metrics.recordRequest(o);
    statsJs.record(o);
    logRequest(logger, o);
  }, flush);

  // Scrape-side costs, for scale (not per request).
  let t = process.hrtime.bigint();
  const { body } = await metrics.render();
  console.log(`metrics.render(): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(2)} ms, ${body.length} bytes`);
  t = process.hrtime.bigint();
  statsWasm.snapshot();
  console.log(`latencyStats.snapshot() (wasm): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(2)} ms`);
  const all = results.find((r) => r.name.startsWith('all per request (wasm'));
  if (all) {
    console.log(`per-request observability CPU: ${(all.cpuNs / 1000).toFixed(2)} µs; 5% of a request costing 100 µs CPU is 5 µs`);
  }
  statsWasm.close();
  statsJs.close();
}

await main();
