/**
 * The harness side of bench/alloc-probe-preload.ts: the Node flags that load
 * it, and how to read its count (SIGUSR2, then wait for the next sequence number).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDistDir } from './paths.ts';

/** Node flags that load the probe into a process. */
export const allocProbeNodeArgs: readonly string[] = ['--import', pathToFileURL(join(benchDistDir, 'alloc-probe-preload.js')).href];

/** Environment variable naming the file the probe writes. */
export const allocProbeFileEnv = 'BENCH_ALLOC_PROBE_FILE';

function readCount(file: string): { seq: number; allocatedBytes: number } | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { seq: number; allocatedBytes: number };
  } catch {
    return null;
  }
}

/** Bytes allocated on the V8 heap of process `pid` since it started; throws when the probe does not answer within 3 s. */
export async function readAllocProbe(pid: number, file: string): Promise<number> {
  const before = readCount(file)?.seq ?? 0;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const now = readCount(file);
    if (now !== null && now.seq > before) return now.allocatedBytes;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`allocation probe in process ${pid} did not answer within 3 s (${file})`);
}
