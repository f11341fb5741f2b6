/**
 * The harness side of bench/store-probe-preload.ts: how to load it into a
 * Tollgate target and how to read its counts (SIGUSR2, then wait for the
 * file to show the next sequence number).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchDistDir } from './paths.ts';

/** Node flags that load the probe into a process. */
export const storeProbeNodeArgs: readonly string[] = ['--import', pathToFileURL(join(benchDistDir, 'store-probe-preload.js')).href];

/** Environment variable naming the file the probe writes. */
export const storeProbeFileEnv = 'BENCH_STORE_PROBE_FILE';

/** What the probe counted since the target started. */
export interface StoreProbeCounts {
  /** Successful UsageRepo.applyBatch calls: one store transaction each. */
  transactions: number;
  /** Usage records those transactions committed. */
  records: number;
}

function readCounts(file: string): { seq: number; transactions: number; records: number } | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { seq: number; transactions: number; records: number };
  } catch {
    return null;
  }
}

/** Asks the probe in process `pid` for its counts; throws when it does not answer within 3 s. */
export async function readStoreProbe(pid: number, file: string): Promise<StoreProbeCounts> {
  const before = readCounts(file)?.seq ?? 0;
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const now = readCounts(file);
    if (now !== null && now.seq > before) return { transactions: now.transactions, records: now.records };
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`store probe in process ${pid} did not answer within 3 s (${file})`);
}
