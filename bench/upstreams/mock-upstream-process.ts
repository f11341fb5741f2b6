/**
 * Starts bench/upstream-process.ts (the project's mock provider wrapped with a
 * stats port) as a child process on the load cores.
 */
import { fileURLToPath } from 'node:url';
import type { ProcessGroup } from '../managed-process.ts';
import type { Upstream } from './upstream.ts';

const entry = fileURLToPath(new URL('../upstream-process.js', import.meta.url));

/** Options for {@link startMockUpstreamProcess}. */
export interface MockUpstreamOptions {
  chunks: number;
  chunkDelayMs: number;
  cores: string | null;
}

/** Runs the mock provider as a process and returns it as an {@link Upstream}. */
export async function startMockUpstreamProcess(group: ProcessGroup, options: MockUpstreamOptions): Promise<Upstream> {
  const args = [entry, '--chunks', String(options.chunks), '--chunk-delay-ms', String(options.chunkDelayMs)];
  const managed = group.spawn('mock upstream', process.execPath, args, { cores: options.cores });
  const line = await managed.waitForLine(/^BENCH_UPSTREAM /, 15_000);
  const info = JSON.parse(line.slice('BENCH_UPSTREAM '.length)) as { url: string; statsUrl: string };
  const url = info.url.replace(/\/+$/, '');
  return {
    kind: 'mock',
    url,
    async hits() {
      const response = await fetch(info.statsUrl);
      const stats = (await response.json()) as { requests: number };
      return stats.requests;
    },
  };
}
