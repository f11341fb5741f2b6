/**
 * One measured run: a scenario's load against one target, with the target
 * process's CPU, peak RSS, upstream hits and counters read around it.
 */
import type { LoadRequest, LoadResult, LoadSpec } from './load/load-types.ts';
import { runStreams } from './load/stream-client.ts';
import { isStreamScenario, type ScenarioName } from './options.ts';
import { CpuMeter, treePeakRssKib } from './proc-stats.ts';
import { readLoopProbe, type LoopProbeReading } from './loop-probe.ts';
import type { RunningTarget } from './targets/target.ts';
import type { Upstream } from './upstreams/upstream.ts';

/** The figures of one run of one scenario against one target. */
export interface Measurement {
  target: string;
  scenario: ScenarioName;
  run: number;
  tool: string;
  /** Responses (streams for 'stream') completed. */
  requests: number;
  durationS: number;
  /** Requests (streams) per second. */
  perSecond: number;
  /** Latency percentiles; for 'stream' these are time to first byte (TTFT). */
  p50Ms: number;
  p99Ms: number;
  /** CPU of the target process tree (trees, for a pair) per request, µs; null for direct. */
  cpuUsPerRequest: number | null;
  /** cpuUsPerRequest ÷ the baseline's in the same run and scenario. */
  cpuRatioToBaseline: number | null;
  /** TTFT over direct's in the same run (stream only), ms. */
  ttftOverheadP50Ms: number | null;
  ttftOverheadP99Ms: number | null;
  peakRssMiB: number | null;
  errors: number;
  non2xx: number;
  upstreamHits: number;
  expectedHits: { min: number; max: number };
  /** Upstream hits within the expected bounds (equal to requests for count-bounded runs). */
  hitsOk: boolean;
  /** Differences of the target's counters over the run (e.g. redisCommands). */
  counters: Record<string, number>;
  /** Event-loop delay, GC pauses and heap of the target process over the run (bench/loop-probe-preload.ts); null when not loaded. */
  loop: LoopProbeReading | null;
}

/** How to size a run: by time (full runs) or by count (--quick, warm-up). */
export interface RunSize {
  durationS: number;
  /** Requests (or streams) to complete; null for time-bounded runs. */
  amount: number | null;
  connections: number;
  streamConcurrency: number;
}

/** Runs a non-streaming load with the chosen generator. */
export type LoadRunner = (spec: LoadSpec) => Promise<LoadResult>;

/** GET /api/v1/balance : GET /api/v1/usage : POST /api/v1/proxy/llm at 10 : 5 : 1, interleaved. */
const mixPattern = 'BUBBUBBUBBUBBUBL';

function mixedSequence(target: RunningTarget): LoadRequest[] {
  const account = target.account;
  if (account === null) throw new Error(`${target.name} has no account API`);
  const get = (path: string): LoadRequest => ({ method: 'GET', path, headers: account.headers, body: null, upstreamBound: false });
  const llm: LoadRequest = {
    method: 'POST',
    path: '/api/v1/proxy/llm',
    headers: { ...account.headers, 'content-type': 'application/json' },
    body: account.llmBody,
    upstreamBound: true,
  };
  return [...mixPattern].map((letter) => (letter === 'B' ? get('/api/v1/balance') : letter === 'U' ? get('/api/v1/usage') : llm));
}

/** Whether a scenario applies to a target (the account mix needs Tollgate's account API; variants run chat only). */
export function scenarioApplies(scenario: ScenarioName, target: RunningTarget): boolean {
  if (target.onlyScenarios !== undefined && !target.onlyScenarios.includes(scenario)) return false;
  if (scenario === 'translated') return target.translatedStream !== undefined;
  if (scenario === 'filtered') return target.filteredStream !== undefined;
  if (scenario === 'hop') return target.hop !== undefined;
  if (scenario === 'cached') return target.cached !== undefined;
  return scenario !== 'mixed' || target.account !== null;
}

/**
 * Upstream hits once they stop changing. When a time-bounded load stops, the
 * gateway still finishes the requests it had in flight (seconds later when
 * its latency is high); their upstream hits belong to this run, not the next.
 */
async function settledHits(upstream: Upstream): Promise<number> {
  const deadline = Date.now() + 15_000;
  let last = await upstream.hits();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await upstream.hits();
    if (now === last) return now;
    last = now;
  }
  return last;
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name in after) {
    const delta = after[name] - (before[name] ?? 0);
    if (delta !== 0) out[name] = delta;
  }
  return out;
}

/** Runs one scenario against one target and reads every figure around it. */
export async function measure(
  scenario: ScenarioName,
  target: RunningTarget,
  upstreams: { fast: Upstream; stream: Upstream },
  size: RunSize,
  runLoad: LoadRunner,
  run: number,
): Promise<Measurement> {
  const upstream = isStreamScenario(scenario) ? upstreams.stream : upstreams.fast;
  const hitsBefore = await upstream.hits();
  const countersBefore = await target.counters();
  const loopProbe = target.pid !== null && target.loopProbeFile !== undefined ? { pid: target.pid, file: target.loopProbeFile } : null;
  // The first read starts the probe over: the second covers the run.
  if (loopProbe !== null) await readLoopProbe(loopProbe.pid, loopProbe.file);
  const pids = target.pid === null ? [] : [target.pid, ...(target.extraPids ?? [])];
  const cpu = pids.length === 0 ? null : new CpuMeter(pids);
  let outcome: Omit<Measurement, 'target' | 'scenario' | 'run' | 'cpuUsPerRequest' | 'cpuRatioToBaseline' | 'ttftOverheadP50Ms' | 'ttftOverheadP99Ms' | 'peakRssMiB' | 'upstreamHits' | 'hitsOk' | 'counters' | 'loop'>;
  if (isStreamScenario(scenario)) {
    const shape = scenario === 'stream' ? target.stream : scenario === 'translated' ? target.translatedStream! : target.filteredStream!;
    const result = await runStreams({
      url: shape.url,
      path: shape.path,
      headers: shape.headers,
      body: shape.body,
      concurrency: size.streamConcurrency,
      durationS: size.durationS,
      amount: size.amount,
      timeoutS: 30,
    });
    outcome = {
      tool: 'stream-client',
      requests: result.streams,
      durationS: result.durationS,
      perSecond: result.streamsPerS,
      p50Ms: result.ttftP50Ms,
      p99Ms: result.ttftP99Ms,
      errors: result.errors,
      non2xx: result.non2xx,
      expectedHits: { min: result.started, max: result.started },
    };
  } else {
    const single = scenario === 'chat' ? target.chat : scenario === 'hop' ? target.hop! : scenario === 'cached' ? target.cached!.shape : null;
    const sequence: LoadRequest[] =
      single !== null
        ? [{ method: 'POST', path: single.path, headers: single.headers, body: single.body, upstreamBound: true }]
        : mixedSequence(target);
    const url = single !== null ? single.url : (target.account?.url ?? '');
    const result = await runLoad({ url, sequence, connections: size.connections, durationS: size.durationS, amount: size.amount, timeoutS: 10 });
    outcome = {
      tool: result.tool,
      requests: result.requests,
      durationS: result.durationS,
      perSecond: result.requestsPerS,
      p50Ms: result.latencyP50Ms,
      p99Ms: result.latencyP99Ms,
      errors: result.errors,
      non2xx: result.non2xx,
      // Served from the cache: at most the one miss (single flight), made in the warm-up or the first run.
      expectedHits: scenario === 'cached' && target.cached!.fromCache ? { min: 0, max: 1 } : result.expectedUpstreamHits,
    };
  }
  const cpuMicros = cpu === null ? null : cpu.elapsedMicros();
  const loop = loopProbe === null ? null : await readLoopProbe(loopProbe.pid, loopProbe.file);
  const upstreamHits = (await settledHits(upstream)) - hitsBefore;
  const counters = difference(await target.counters(), countersBefore);
  return {
    ...outcome,
    target: target.name,
    scenario,
    run,
    cpuUsPerRequest: cpuMicros === null || outcome.requests === 0 ? null : cpuMicros / outcome.requests,
    cpuRatioToBaseline: null,
    ttftOverheadP50Ms: null,
    ttftOverheadP99Ms: null,
    peakRssMiB: pids.length === 0 ? null : pids.reduce((sum, pid) => sum + treePeakRssKib(pid), 0) / 1024,
    upstreamHits,
    hitsOk: upstreamHits >= outcome.expectedHits.min && upstreamHits <= outcome.expectedHits.max,
    counters,
    loop,
  };
}
