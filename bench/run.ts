/**
 * The bench runner: `npm run bench` (node dist/bench/run.js) and `tollgate
 * bench` (runBench). Starts the upstreams and every target, warms them up,
 * then runs each scenario against the targets in alternation, run after run,
 * and reports medians with min–max, ratios to the baseline taken within each
 * run, correctness counts, and where the project stands against its goals.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pinSelf, planCpus } from './cpu-pinning.ts';
import { runAutocannon } from './load/autocannon-load.ts';
import { hasWrk, runWrk } from './load/wrk.ts';
import { ProcessGroup } from './managed-process.ts';
import { isStreamScenario, parseBenchArgs, usage, type BenchOptions } from './options.ts';
import { machineInfo, type BenchReport, type RedisProbe, type TargetStatus } from './report/bench-report.ts';
import { writeResultFiles } from './report/results-files.ts';
import { addRunRatios, judgeGoals, partCosts, summarize, writerMetricsCheck } from './report/summarize.ts';
import { probeRedis } from './redis-probe.ts';
import { buildTables, partCostTable, renderText, writerBenchTable } from './report/tables.ts';
import type { WriterBenchResult } from './metering-bench.ts';
import { benchDistDir } from './paths.ts';
import { measure, scenarioApplies, type LoadRunner, type Measurement, type RunSize } from './scenarios.ts';
import { baselineTarget } from './targets/baseline.ts';
import { directTarget } from './targets/direct.ts';
import { peerTarget } from './targets/peer.ts';
import { passthroughPairTarget, tollgateHopTarget } from './targets/service-pair.ts';
import type { RunningTarget, TargetDefinition } from './targets/target.ts';
import { tollgateTarget } from './targets/tollgate.ts';
import { startMockUpstreamProcess } from './upstreams/mock-upstream-process.ts';
import { findNginx, startNginxUpstream } from './upstreams/nginx-upstream.ts';
import type { Upstream } from './upstreams/upstream.ts';
import { runSoak, type SoakResult } from './soak.ts';

export type { BenchReport } from './report/bench-report.ts';

/** How runBench was invoked, for the report. */
export interface BenchInvocation {
  /** The command line shown in RESULTS.md, e.g. "npx tollgate bench --runs 5". */
  command?: string;
  /** Where progress and the report go (default stdout). */
  log?: (line: string) => void;
}

const definitions: Record<string, TargetDefinition> = {
  direct: directTarget,
  baseline: baselineTarget,
  tollgate: tollgateTarget('memory'),
  'tollgate-nolimits': tollgateTarget('memory', 'nolimits'),
  'tollgate-nometering': tollgateTarget('memory', 'nometering'),
  'tollgate-noobs': tollgateTarget('memory', 'noobs'),
  'tollgate-redis': tollgateTarget('redis'),
  'tollgate-pg': tollgateTarget('postgres'),
  'tollgate-w1': tollgateTarget('memory', 'full', null, 1),
  'tollgate-w2': tollgateTarget('memory', 'full', null, 2),
  peer: peerTarget,
  'passthrough-pair': passthroughPairTarget,
  'tollgate-hop': tollgateHopTarget('default'),
  'tollgate-hop-zstd': tollgateHopTarget('zstd'),
  'tollgate-hop-nozip': tollgateHopTarget('none'),
  'tollgate-hop-http': tollgateHopTarget('http'),
};

function defaultCommand(argv: string[]): string {
  const args = argv.join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args === '' ? '' : ` -- ${args}`}`;
  if (process.argv[1]?.endsWith(join('src', 'cli.js'))) return `npx tollgate bench${args === '' ? '' : ` ${args}`}`;
  return `node dist/bench/run.js${args === '' ? '' : ` ${args}`}`;
}

function chooseLoad(options: BenchOptions, group: ProcessGroup, workDir: string): { name: string; run: LoadRunner } {
  const wrk = options.load === 'wrk' || (options.load === 'auto' && hasWrk());
  if (options.load === 'wrk' && !hasWrk()) throw new Error('--load wrk: wrk is not installed (apt-get install wrk)');
  if (!wrk) return { name: 'autocannon (in the harness process)', run: runAutocannon };
  return { name: 'wrk (1 thread, Lua script)', run: (spec) => runWrk(spec, 1, group, workDir) };
}

function describeMeasurement(m: Measurement): string {
  const unit = isStreamScenario(m.scenario) ? 'streams/s' : 'req/s';
  const latency = isStreamScenario(m.scenario) ? 'TTFT' : 'latency';
  const cpu = m.cpuUsPerRequest === null ? '' : `, ${m.cpuUsPerRequest.toFixed(0)} µs CPU/req`;
  const hits = m.hitsOk ? 'hits ok' : `UPSTREAM HITS ${m.upstreamHits} outside ${m.expectedHits.min}..${m.expectedHits.max}`;
  return `${m.perSecond.toFixed(0)} ${unit}, ${latency} p50 ${m.p50Ms.toFixed(2)} / p99 ${m.p99Ms.toFixed(2)} ms${cpu}, ${m.requests} done, errors ${m.errors}, non-2xx ${m.non2xx}, ${hits}`;
}

/**
 * Runs bench/metering-bench.ts once as its own process on the target core
 * (idle by then) and resolves to its figures.
 */
async function runWriterBench(group: ProcessGroup, cores: string | null, log: (line: string) => void): Promise<WriterBenchResult> {
  const managed = group.spawn('metering-bench', process.execPath, [join(benchDistDir, 'metering-bench.js')], { cores });
  const line = await managed.waitForLine(/^BENCH_WRITER /, 120_000);
  for (const earlier of managed.tail) if (earlier !== line) log(`writer bench: ${earlier}`);
  return JSON.parse(line.slice('BENCH_WRITER '.length)) as WriterBenchResult;
}

/**
 * Runs the bench with command-line style arguments (see `--help`) and
 * resolves to the report, or null for --help. Child processes are always
 * stopped. Throws on a bad flag or a target that fails to start.
 */
export async function runBenchReport(argv: string[], invocation: BenchInvocation = {}): Promise<BenchReport | null> {
  const options = parseBenchArgs(argv);
  const log = invocation.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  if (options.help) {
    log(usage);
    return null;
  }
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const cpus = planCpus(options.pin);
  const restoreAffinity = pinSelf(cpus);
  const group = new ProcessGroup();
  const workDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  group.addCleanup(() => rmSync(workDir, { recursive: true, force: true }));
  const running: RunningTarget[] = [];
  try {
    const load = chooseLoad(options, group, workDir);
    const loadCores = cpus?.loadCores ?? null;
    const streamUpstream = await startMockUpstreamProcess(group, { chunks: 20, chunkDelayMs: 5, cores: loadCores });
    const nginx = findNginx();
    const fast: Upstream = nginx === null ? streamUpstream : await startNginxUpstream(group, nginx, loadCores);
    const upstreams = { fast, stream: streamUpstream };
    log(`bench: ${options.quick ? 'quick' : `${options.runs} runs × ${options.durationS} s`}, load ${load.name}, ` +
      `upstream ${fast.kind} (non-streaming) + mock (streaming), ${cpus === null ? 'no pinning' : `target on core ${cpus.targetCores}, load on ${cpus.loadCores}`}`);

    const statuses: TargetStatus[] = [];
    for (const name of options.targets) {
      const reference = { name, cli: resolve(options.ref ?? '.', 'dist', 'src', 'cli.js') };
      const definition = name === 'tollgate-ref'
        ? tollgateTarget('memory', 'full', reference)
        : name === 'tollgate-hop-ref' ? tollgateHopTarget('default', reference) : definitions[name];
      try {
        const started = await definition.start({ group, cpus, fast, streamUpstream, workDir, cpuProfDir: options.cpuProfDir });
        if (typeof started === 'string') {
          statuses.push({ name, status: 'skipped', note: started });
          log(`bench: ${name} skipped: ${started}`);
        } else {
          running.push(started);
          statuses.push({ name, status: 'ran', note: started.description });
          log(`bench: ${name} started: ${started.description}`);
        }
      } catch (error) {
        throw new Error(`bench: target ${name} failed to start: ${(error as Error).message}`);
      }
    }

    // JIT and connection pools warm before anything is measured.
    if (options.warmupS > 0) {
      const warmup: RunSize = { durationS: options.warmupS, amount: null, connections: options.connections, streamConcurrency: options.streamConcurrency };
      for (const target of running) {
        for (const scenario of options.scenarios) {
          if (scenarioApplies(scenario, target)) await measure(scenario, target, upstreams, warmup, load.run, 0);
        }
      }
    }

    const measurements: Measurement[] = [];
    for (let run = 1; run <= options.runs; run++) {
      for (const scenario of options.scenarios) {
        for (const target of running) {
          if (!scenarioApplies(scenario, target)) continue;
          const amount = options.quick ? (isStreamScenario(scenario) ? options.quickStreams : options.quickRequests) : null;
          const size: RunSize = { durationS: options.durationS, amount, connections: options.connections, streamConcurrency: options.streamConcurrency };
          const m = await measure(scenario, target, upstreams, size, load.run, run);
          measurements.push(m);
          log(`run ${run}/${options.runs} ${scenario.padEnd(6)} ${target.name.padEnd(14)} ${describeMeasurement(m)}`);
        }
      }
    }

    const redisProbes: RedisProbe[] = [];
    for (const target of running) {
      const probe = await probeRedis(target, upstreams, 320);
      if (probe === null) continue;
      redisProbes.push(probe);
      log(`redis probe ${target.name}: ${probe.sentPerRequest.toFixed(2)} commands sent per request ${JSON.stringify(probe.sentByCommand)}, ` +
        `${probe.inScriptsPerRequest.toFixed(2)} more run inside scripts (${probe.requests} requests, MONITOR on)`);
    }

    const soaks: SoakResult[] = [];
    if (options.soakS !== null) {
      for (const target of running) {
        if (!target.name.startsWith('tollgate') || target.loopProbeFile === undefined) continue;
        const soak = await runSoak(target, options.soakS, options.connections, log);
        soaks.push(soak);
        log(`soak ${soak.target}: ${soak.requests} requests in ${soak.durationS.toFixed(0)} s at ${soak.ratePerS} req/s (errors ${soak.errors}, non-2xx ${soak.non2xx}, p99 ${soak.latencyP99Ms} ms); ` +
          `heap used ${soak.heapFirstMiB.toFixed(1)} → ${soak.heapLastMiB.toFixed(1)} MiB, slope ${soak.heapSlopeMiBPerMin.toFixed(3)} MB/min; ` +
          `RSS at the end ${soak.rssLastMiB.toFixed(0)} MiB; loop delay p99 ${soak.loopDelayP99Ms.toFixed(2)} ms (worst 5 s interval ${soak.loopDelayWorstP99Ms.toFixed(2)} ms)`);
      }
    }

    const notes: string[] = [];
    let writerBench: WriterBenchResult | null = null;
    if (options.writerBench) {
      try {
        writerBench = await runWriterBench(group, cpus?.targetCores ?? null, log);
      } catch (error) {
        notes.push(`The usage writer benchmark failed: ${(error as Error).message.split('\n')[0]}`);
        log(`writer bench failed: ${(error as Error).message}`);
      }
    } else {
      log('writer bench not run (--quick or --no-writer-bench): node dist/bench/metering-bench.js');
    }

    const targetNames = running.map((target) => target.name);
    addRunRatios(measurements);
    const summaries = summarize(measurements, targetNames, options.scenarios);
    const parts = partCosts(measurements);
    const goals = judgeGoals(measurements, summaries, redisProbes, parts);
    const metricsCheck = writerMetricsCheck(measurements);
    if (metricsCheck !== null) notes.push(metricsCheck);
    const report: BenchReport = {
      startedAt,
      finishedAt: new Date().toISOString(),
      command: invocation.command ?? defaultCommand(argv),
      machine,
      options,
      pinning: cpus,
      loadGenerator: load.name,
      upstreams: {
        nonStreaming: fast.kind === 'nginx' ? 'nginx `return 200` with keep-alive' : 'the mock provider (nginx not installed)',
        streaming: 'the mock provider, 20 chunks 5 ms apart',
      },
      targets: statuses,
      measurements,
      summaries,
      redisProbes,
      partCosts: parts,
      writerBench,
      soaks,
      goals,
      notes,
      files: [],
    };
    log('');
    for (const table of buildTables(summaries, options.scenarios)) log(`${renderText(table)}\n`);
    for (const table of [partCostTable(parts), writerBenchTable(writerBench)]) if (table !== null) log(`${renderText(table)}\n`);
    log('Goals (medians):');
    for (const goal of goals) log(`  [${goal.met === null ? ' -- ' : goal.inconclusive === true ? ' ?? ' : goal.met ? ' ok ' : 'MISS'}] ${goal.goal}: ${goal.actual}`);
    for (const status of statuses) if (status.status === 'skipped') log(`  note: ${status.name} skipped: ${status.note}`);
    for (const note of notes) log(`  note: ${note}`);
    if (options.write) log(`\nwrote ${writeResultFiles(report).join(', ')}`);
    return report;
  } finally {
    for (const target of running) await target.stop().catch(() => {});
    await group.stopAll();
    restoreAffinity();
  }
}

/** True when every measurement served all its requests without errors and upstream hits matched. */
export function reportIsCorrect(report: BenchReport): boolean {
  return report.measurements.every((m) => m.errors === 0 && m.non2xx === 0 && m.hitsOk && m.requests > 0);
}

/**
 * The command: `npm run bench` and `tollgate bench`. Resolves to the exit
 * code: 0, 1 when a run failed its correctness checks or a target failed to
 * start, 2 for a bad flag. Goals not met do not fail the command.
 */
export async function runBench(argv: string[], invocation: BenchInvocation = {}): Promise<number> {
  try {
    parseBenchArgs(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${usage}`);
    return 2;
  }
  try {
    const report = await runBenchReport(argv, invocation);
    if (report !== null && !reportIsCorrect(report)) {
      process.stderr.write('bench: correctness check failed (errors, non-2xx or upstream hits ≠ requests); see the tables above\n');
      return 1;
    }
    return 0;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runBench(process.argv.slice(2));
}
