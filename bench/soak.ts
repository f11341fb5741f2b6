/**
 * The soak run (--soak <s>): a Tollgate target under steady load at half the
 * rate it saturates at, for minutes, with its V8 heap in use and RSS sampled
 * every few seconds. A leak shows as a heap that keeps growing: the report
 * gives the least-squares slope of heap used over time in MB/min (the first
 * tenth of the run, while the heap settles, left out), the RSS at the end and
 * the event-loop delay p99 over the whole soak.
 */
import { readFileSync } from 'node:fs';
import { runAutocannon } from './load/autocannon-load.ts';
import type { LoadRequest } from './load/load-types.ts';
import { readLoopProbe } from './loop-probe.ts';
import type { RunningTarget } from './targets/target.ts';

/** What one soak run found. */
export interface SoakResult {
  target: string;
  durationS: number;
  saturationPerS: number;
  ratePerS: number;
  requests: number;
  errors: number;
  non2xx: number;
  latencyP99Ms: number;
  /** Heap used, least-squares slope over the run (first tenth left out), MB per minute. */
  heapSlopeMiBPerMin: number;
  heapFirstMiB: number;
  heapLastMiB: number;
  rssLastMiB: number;
  /** Event-loop delay p99 of each sampling interval (the probe starts over at each read): median and worst. */
  loopDelayP99Ms: number;
  loopDelayWorstP99Ms: number;
  samples: Array<{ s: number; heapMiB: number; rssMiB: number; loopDelayP99Ms: number }>;
}

const SAMPLE_EVERY_MS = 5000;

function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]) / 1024;
}

/** Slope of y over x by least squares. */
export function leastSquaresSlope(points: ReadonlyArray<{ x: number; y: number }>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Soaks `target` (non-streaming chat) for `durationS` seconds; needs its loop probe. */
export async function runSoak(target: RunningTarget, durationS: number, connections: number, log: (line: string) => void): Promise<SoakResult> {
  const pid = target.pid;
  const probe = target.loopProbeFile;
  if (pid === null || probe === undefined) throw new Error(`soak: ${target.name} has no loop probe`);
  const sequence: LoadRequest[] = [{ method: 'POST', path: target.chat.path, headers: target.chat.headers, body: target.chat.body, upstreamBound: true }];
  const saturation = await runAutocannon({ url: target.chat.url, sequence, connections, durationS: 5, amount: null, timeoutS: 10 });
  const ratePerS = Math.max(1, Math.round(saturation.requestsPerS / 2));
  log(`soak ${target.name}: saturates at ${Math.round(saturation.requestsPerS)} req/s; ${durationS} s at ${ratePerS} req/s, heap sampled every ${SAMPLE_EVERY_MS / 1000} s`);
  await readLoopProbe(pid, probe); // starts the delay histogram over
  const samples: SoakResult['samples'] = [];
  const startedAt = performance.now();
  let sampling = false;
  const timer = setInterval(() => {
    if (sampling) return;
    sampling = true;
    readLoopProbe(pid, probe).then((reading) => {
      samples.push({ s: (performance.now() - startedAt) / 1000, heapMiB: reading.heapUsedMiB, rssMiB: rssMiB(pid), loopDelayP99Ms: reading.delayP99Ms });
    }, () => {}).finally(() => {
      sampling = false;
    });
  }, SAMPLE_EVERY_MS);
  const load = await runAutocannon({ url: target.chat.url, sequence, connections, durationS, amount: null, timeoutS: 10, ratePerS }).finally(() => clearInterval(timer));
  const last = await readLoopProbe(pid, probe);
  samples.push({ s: (performance.now() - startedAt) / 1000, heapMiB: last.heapUsedMiB, rssMiB: rssMiB(pid), loopDelayP99Ms: last.delayP99Ms });
  const delays = samples.map((sample) => sample.loopDelayP99Ms).sort((a, b) => a - b);
  const settled = samples.filter((sample) => sample.s >= durationS / 10);
  const slopePerS = leastSquaresSlope(settled.map((sample) => ({ x: sample.s, y: sample.heapMiB })));
  return {
    target: target.name,
    durationS: load.durationS,
    saturationPerS: saturation.requestsPerS,
    ratePerS,
    requests: load.requests,
    errors: load.errors,
    non2xx: load.non2xx,
    latencyP99Ms: load.latencyP99Ms,
    heapSlopeMiBPerMin: slopePerS * 60,
    heapFirstMiB: settled[0]?.heapMiB ?? last.heapUsedMiB,
    heapLastMiB: last.heapUsedMiB,
    rssLastMiB: rssMiB(pid),
    loopDelayP99Ms: delays[delays.length >> 1],
    loopDelayWorstP99Ms: delays[delays.length - 1],
    samples,
  };
}
