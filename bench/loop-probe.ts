/**
 * The harness side of bench/loop-probe-preload.ts: how to load it into a
 * target and how to read it (SIGUSR2, then wait for the next sequence number).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDistDir } from './paths.ts';

/** Node flags that load the probe into a process. */
export const loopProbeNodeArgs: readonly string[] = ['--import', pathToFileURL(join(benchDistDir, 'loop-probe-preload.js')).href];

/** Environment variable naming the file the probe writes. */
export const loopProbeFileEnv = 'BENCH_LOOP_PROBE_FILE';

/** What the probe saw between two reads. */
export interface LoopProbeReading {
  /** Event-loop delay percentiles and maximum, ms (perf_hooks monitorEventLoopDelay, 2 ms timer). */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** GC pauses: how many (of them mark-compact), their total and the longest, ms. */
  gcCount: number;
  majorGcCount: number;
  gcMs: number;
  gcMaxMs: number;
  /** V8 heap in use when read, MiB. */
  heapUsedMiB: number;
}

function readReading(file: string): (LoopProbeReading & { seq: number }) | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LoopProbeReading & { seq: number };
  } catch {
    return null;
  }
}

/** Asks the probe in process `pid` for what it saw since the last read (and starts it over); throws after 3 s without an answer. */
export async function readLoopProbe(pid: number, file: string): Promise<LoopProbeReading> {
  const before = readReading(file)?.seq ?? 0;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const now = readReading(file);
    if (now !== null && now.seq > before) return now;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`loop probe in process ${pid} did not answer within 3 s (${file})`);
}
