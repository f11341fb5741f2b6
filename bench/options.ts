/** Command-line flags of `npm run bench` / `tollgate bench`. */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The scenarios: non-streaming throughput, streaming, and the account API mix. */
/**
 * 'translated': a chat stream served by an Anthropic channel; 'filtered': a chat stream with 30
 * response filter rules in scope. Both Tollgate only, compared with 'stream' in the same run.
 * 'hop': a ~2 KiB POST through two nodes in series (service pairs only): Tollgate's secure hop
 * against two bare passthroughs.
 * 'cached': the non-streaming chat request with `x-tollgate-cache: use`, so Tollgate answers it
 * from its response cache (one miss, then hits); the bare passthrough relays it as 'chat'.
 */
export type ScenarioName = 'chat' | 'stream' | 'translated' | 'filtered' | 'mixed' | 'hop' | 'cached';
export const allScenarios: readonly ScenarioName[] = ['chat', 'stream', 'translated', 'filtered', 'mixed', 'hop', 'cached'];

/** Scenarios whose load is streams (measured by TTFT and CPU per stream). */
export const isStreamScenario = (s: ScenarioName): boolean => s === 'stream' || s === 'translated' || s === 'filtered';

/**
 * Every target, in the order they alternate. The variants (full chain with
 * one part off) run next to the full chain so that drift hits them alike.
 */
export const allTargets: readonly string[] = [
  'direct',
  'baseline',
  'tollgate',
  'tollgate-ref',
  'tollgate-nolimits',
  'tollgate-nometering',
  'tollgate-noobs',
  'tollgate-redis',
  'tollgate-pg',
  'peer',
  'passthrough-pair',
  'tollgate-hop',
  'tollgate-hop-ref',
  'tollgate-hop-zstd',
  'tollgate-hop-nozip',
  'tollgate-hop-http',
  'tollgate-w1',
  'tollgate-w2',
];

/**
 * `serve --workers 1` and `--workers 2`, unpinned: run only when named in
 * --targets (they share the cores with the load generator, so their figures
 * do not compare with the pinned targets').
 */
export const workerTargets: readonly string[] = ['tollgate-w1', 'tollgate-w2'];

/** The cost-breakdown variants of the full chain (non-streaming scenario only). */
export const variantTargets: readonly string[] = ['tollgate-nolimits', 'tollgate-nometering', 'tollgate-noobs'];

/** Parsed options; see {@link usage}. */
export interface BenchOptions {
  quick: boolean;
  durationS: number;
  runs: number;
  targets: string[];
  scenarios: ScenarioName[];
  connections: number;
  streamConcurrency: number;
  /** Count-bounded sizes used by --quick. */
  quickRequests: number;
  quickStreams: number;
  warmupS: number;
  pin: boolean;
  load: 'auto' | 'wrk' | 'autocannon';
  /** Run bench/metering-bench.ts (usage writer throughput, ~20 s) once after the load runs. */
  writerBench: boolean;
  /** Write bench/results/<date>.json, bench/RESULTS.md and the chart. */
  write: boolean;
  help: boolean;
  /** Root of another built checkout of Tollgate, run as the 'tollgate-ref' target (before/after in one run); null = none. */
  ref: string | null;
  /** Folder for V8 CPU profiles of the Tollgate targets (one subfolder each, written when they stop); null = none. */
  cpuProfDir: string | null;
  /** Seconds of the soak run after the measured runs (Tollgate targets); null = none. */
  soakS: number | null;
}

/** The --help text. */
export const usage = `Usage: npm run bench -- [options]    (or: npx tollgate bench [options])

Runs the same load against every target, alternating them (A B C A B C ...),
and prints a report; full runs also write bench/results/<date>.json,
bench/RESULTS.md and bench/cpu-per-request.svg.

Options:
  --quick                 CI-sized smoke run: a few hundred requests per target, 1 run,
                          count-bounded with autocannon (upstream hits checked exactly)
  --duration <s>          seconds per measured run (default 10)
  --runs <n>              alternated runs per target and scenario (default 3)
  --targets <a,b,...>     subset of: ${allTargets.join(', ')}
                          (the variants ${variantTargets.join(', ')}
                          are the full chain with one part off; non-streaming only;
                          passthrough-pair, tollgate-hop, tollgate-hop-zstd (zstd instead of
                          the default lz4), tollgate-hop-nozip (compression off) and
                          tollgate-hop-http (one HTTP request per call instead of the
                          multiplexed connection) run the 'hop' scenario only; tollgate-w1 and tollgate-w2
                          (serve --workers 1 / 2, not pinned) run only when named)
  --scenarios <a,b,...>   subset of: ${allScenarios.join(', ')}
  --no-peer               leave out the peer gateway
  --no-variants           leave out the cost-breakdown variants
  --writer-bench / --no-writer-bench
                          run the usage writer benchmark (dist/bench/metering-bench.js, ~20 s)
                          once after the load runs (default: yes, except with --quick)
  --connections <n>       connections for non-streaming load (default 64)
  --stream-concurrency <n> open streams at a time (default 16)
  --warmup <s>            warm-up seconds per target and scenario (default 2; 0 with --quick)
  --load <wrk|autocannon> load generator (default: wrk when installed)
  --ref <dir>             also run another built checkout (its dist/src/cli.js) as 'tollgate-ref',
                          full chain, alternated with 'tollgate', and (with the 'hop' scenario) as
                          'tollgate-hop-ref' next to 'tollgate-hop': before/after a change in one run
  --cpu-prof <dir>        write a V8 CPU profile of each Tollgate target to <dir>/<target>/ when it
                          stops (CPU figures of a profiled run are inflated; read the shares:
                          node dist/bench/stage-profile.js <file.cpuprofile>)
  --soak <s>              after the measured runs, load each Tollgate target for <s> seconds at half
                          the rate it saturates at (measured first, 5 s), heap used sampled every
                          5 s; reports the least-squares heap slope in MB/min, RSS and loop delay
  --no-pin                do not pin processes to cores with taskset
  --write / --no-write    write the result files (default: yes, except with --quick)
  -h, --help              this text
`;

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number (got "${text}")`);
  return value;
}

function list<T extends string>(name: string, text: string | undefined, allowed: readonly T[]): T[] | null {
  if (text === undefined) return null;
  const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new Error(`--${name}: unknown "${item}" (known: ${allowed.join(', ')})`);
  }
  return items as T[];
}

/** Parses the flags; throws with a message naming the bad flag. */
export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      runs: { type: 'string' },
      targets: { type: 'string' },
      scenarios: { type: 'string' },
      peer: { type: 'boolean', default: true },
      variants: { type: 'boolean', default: true },
      'writer-bench': { type: 'boolean' },
      connections: { type: 'string' },
      'stream-concurrency': { type: 'string' },
      'quick-requests': { type: 'string' },
      'quick-streams': { type: 'string' },
      warmup: { type: 'string' },
      load: { type: 'string', default: 'auto' },
      pin: { type: 'boolean', default: true },
      write: { type: 'boolean' },
      ref: { type: 'string' },
      'cpu-prof': { type: 'string' },
      soak: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick;
  const load = values.load;
  if (load !== 'auto' && load !== 'wrk' && load !== 'autocannon') throw new Error(`--load must be wrk or autocannon (got "${load}")`);
  let targets = list('targets', values.targets, allTargets) ?? allTargets.filter((name) => !workerTargets.includes(name));
  if (!values.peer) targets = targets.filter((name) => name !== 'peer');
  if (!values.variants) targets = targets.filter((name) => !variantTargets.includes(name));
  // The reference checkout runs only when one is given.
  if (values.ref === undefined) targets = targets.filter((name) => name !== 'tollgate-ref' && name !== 'tollgate-hop-ref');
  return {
    quick,
    durationS: positive('duration', values.duration, 10),
    runs: Math.round(positive('runs', values.runs, quick ? 1 : 3)),
    targets,
    scenarios: list('scenarios', values.scenarios, allScenarios) ?? [...allScenarios],
    connections: Math.round(positive('connections', values.connections, quick ? 16 : 64)),
    streamConcurrency: Math.round(positive('stream-concurrency', values['stream-concurrency'], quick ? 8 : 16)),
    quickRequests: Math.round(positive('quick-requests', values['quick-requests'], 320)),
    quickStreams: Math.round(positive('quick-streams', values['quick-streams'], 40)),
    // --quick checks correctness, not speed: no warm-up unless asked for.
    warmupS: values.warmup === undefined ? (quick ? 0 : 2) : Number(values.warmup),
    pin: values.pin,
    // Count-bounded runs need autocannon, which can stop at an exact number.
    load: quick ? 'autocannon' : load,
    writerBench: values['writer-bench'] ?? !quick,
    write: values.write ?? !quick,
    help: values.help,
    ref: values.ref ?? null,
    cpuProfDir: values['cpu-prof'] === undefined ? null : resolve(values['cpu-prof']),
    soakS: values.soak === undefined ? null : positive('soak', values.soak, 600),
  };
}
