/** The whole outcome of a bench run, as returned by runBench and written to results/<date>.json. */
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import type { BenchOptions } from '../options.ts';
import { findNginx } from '../upstreams/nginx-upstream.ts';
import type { Measurement } from '../scenarios.ts';
import type { WriterBenchResult } from '../metering-bench.ts';
import type { GoalStatus, PartCost, ScenarioSummary } from './summarize.ts';
import type { SoakResult } from '../soak.ts';

/** The machine the figures come from. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  node: string;
  kernel: string;
  wrk: string | null;
  nginx: string | null;
  /** 1-minute load average when the run started: the machine may be shared. */
  loadAverage: number;
}

/** A target as started (or skipped) by the run. */
export interface TargetStatus {
  name: string;
  status: 'ran' | 'skipped';
  /** What ran, or why it was skipped. */
  note: string;
}

/**
 * Redis commands a Redis-mode target sends per request, recorded with MONITOR
 * during a separate count-bounded run (MONITOR slows Redis, so never during
 * the measured runs). Commands run inside Lua scripts are counted apart.
 */
export interface RedisProbe {
  target: string;
  requests: number;
  /** Commands the gateway sent per request: its round trips, unless it pipelines. */
  sentPerRequest: number;
  sentByCommand: Record<string, number>;
  /** Commands run by scripts per request (these cost Redis CPU, not round trips). */
  inScriptsPerRequest: number;
}

/** Everything one bench run measured. */
export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: MachineInfo;
  options: BenchOptions;
  /** taskset plan, or null when processes were not pinned. */
  pinning: { targetCores: string; loadCores: string } | null;
  loadGenerator: string;
  upstreams: { nonStreaming: string; streaming: string };
  targets: TargetStatus[];
  measurements: Measurement[];
  summaries: ScenarioSummary[];
  redisProbes: RedisProbe[];
  /** The full chain against each variant (one part off), non-streaming. */
  partCosts: PartCost[];
  /** bench/metering-bench.ts, run once after the load runs; null when not run (--quick, --no-writer-bench) or failed. */
  writerBench: WriterBenchResult | null;
  /** Soak runs (--soak), one per Tollgate target; absent in older reports. */
  soaks?: SoakResult[];
  goals: GoalStatus[];
  /** Remarks for the report (e.g. a cross-check that did not agree, a part that failed). */
  notes: string[];
  /** Files written (empty when --no-write). */
  files: string[];
}

function versionOf(command: string, args: string[], pattern: RegExp): string | null {
  // nginx -v prints to stderr, wrk --version exits 1: read both streams, ignore the status.
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error !== undefined) return null;
  return pattern.exec(`${result.stdout}${result.stderr}`)?.[1] ?? null;
}

function nginxVersion(): string | null {
  const binary = findNginx();
  return binary === null ? null : versionOf(binary, ['-v'], /nginx\/(\S+)/);
}

/** nproc, CPU model, Node and tool versions; call it before pinning this process. */
export function machineInfo(): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
    wrk: versionOf('wrk', ['--version'], /^wrk (\S+)/m),
    nginx: nginxVersion(),
    loadAverage: loadavg()[0],
  };
}
