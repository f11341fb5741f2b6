/**
 * From the per-run measurements to what the report shows: median and min–max
 * per target and scenario, ratios taken run by run (so drift cancels), and
 * where the project stands against its goals.
 */
import { isStreamScenario, type ScenarioName } from '../options.ts';
import type { Measurement } from '../scenarios.ts';
import type { RedisProbe } from './bench-report.ts';
import { spread, type Spread } from '../summary.ts';

/** One target in one scenario over all runs. */
export interface ScenarioSummary {
  target: string;
  scenario: ScenarioName;
  runs: number;
  perSecond: Spread | null;
  p50Ms: Spread | null;
  p99Ms: Spread | null;
  cpuUsPerRequest: Spread | null;
  cpuRatioToBaseline: Spread | null;
  ttftOverheadP50Ms: Spread | null;
  ttftOverheadP99Ms: Spread | null;
  /** Largest peak RSS seen. */
  peakRssMiB: number | null;
  /** p99 latency (TTFT for streams) ÷ the baseline's in the same run. */
  p99RatioToBaseline: Spread | null;
  /** Event-loop delay p99 of the target process over each run, ms (loop probe). */
  loopDelayP99Ms: Spread | null;
  /** Longest GC pause in each run, ms, and GC time per second of run (loop probe). */
  gcMaxMs: Spread | null;
  gcMsPerS: Spread | null;
  /** Redis commands per request (INFO commandstats), Redis mode only. */
  redisCommandsPerRequest: Spread | null;
  /** Usage writer store transactions per 100 usage records committed (one record per relayed request); Tollgate only. */
  storeTxPer100Requests: Spread | null;
  /** V8 heap KiB allocated per request, all processes of the target (allocation probe: service pairs and Tollgate targets). */
  heapAllocKiBPerRequest: Spread | null;
  requests: number;
  errors: number;
  non2xx: number;
  upstreamHits: number;
  /** Every run's upstream hits matched its requests. */
  hitsOk: boolean;
}

/** A goal of the project and where this run puts it. */
export interface GoalStatus {
  goal: string;
  /** The measured value, formatted, with its spread. */
  actual: string;
  /** null when the run did not have the targets to judge it. */
  met: boolean | null;
  /** The median meets (or misses) the goal but the runs' min–max range crosses it: this run cannot tell. */
  inconclusive?: boolean;
}

/** The target whose CPU is the floor of a scenario: two Node hops for 'hop', one for the others. */
export const floorTarget = (scenario: ScenarioName): string => (scenario === 'hop' ? 'passthrough-pair' : 'baseline');

/** Fills the per-run ratios: CPU ÷ the floor's (see floorTarget) and TTFT − direct's, same run and scenario. */
export function addRunRatios(measurements: Measurement[]): void {
  const find = (target: string, scenario: ScenarioName, run: number): Measurement | undefined =>
    measurements.find((m) => m.target === target && m.scenario === scenario && m.run === run);
  for (const m of measurements) {
    const baseline = find(floorTarget(m.scenario), m.scenario, m.run);
    if (m.cpuUsPerRequest !== null && baseline?.cpuUsPerRequest) m.cpuRatioToBaseline = m.cpuUsPerRequest / baseline.cpuUsPerRequest;
    // A translated stream is compared with direct's plain stream from the same mock.
    const direct = find('direct', isStreamScenario(m.scenario) ? 'stream' : m.scenario, m.run);
    if (isStreamScenario(m.scenario) && direct !== undefined) {
      m.ttftOverheadP50Ms = m.p50Ms - direct.p50Ms;
      m.ttftOverheadP99Ms = m.p99Ms - direct.p99Ms;
    }
  }
}

/**
 * Store transactions per 100 requests in one run: the probe's applyBatch
 * calls over the records they committed (a relayed request makes exactly one
 * record, so records count the requests the run served, in-flight ones included).
 */
function storeTxPer100(m: Measurement): number | null {
  const records = m.counters.storeRecords;
  if (records === undefined || records === 0) return null;
  return ((m.counters.storeTransactions ?? 0) / records) * 100;
}

/** p99 latency ÷ the floor target's (see floorTarget) in the same run and scenario; null without one. */
function p99Ratio(m: Measurement, measurements: Measurement[]): number | null {
  const floor = measurements.find((f) => f.target === floorTarget(m.scenario) && f.scenario === m.scenario && f.run === m.run);
  return floor === undefined || floor.p99Ms <= 0 ? null : m.p99Ms / floor.p99Ms;
}

/** Per target and scenario, in the order the targets ran. */
export function summarize(measurements: Measurement[], targets: string[], scenarios: ScenarioName[]): ScenarioSummary[] {
  const out: ScenarioSummary[] = [];
  for (const scenario of scenarios) {
    for (const target of targets) {
      const runs = measurements.filter((m) => m.target === target && m.scenario === scenario);
      if (runs.length === 0) continue;
      const rss = runs.map((m) => m.peakRssMiB).filter((v): v is number => v !== null);
      const redis = runs.map((m) => (m.counters.redisCommands === undefined || m.requests === 0 ? null : m.counters.redisCommands / m.requests));
      const storeTx = runs.map(storeTxPer100);
      const alloc = runs.map((m) => (m.counters.heapAllocBytes === undefined || m.requests === 0 ? null : m.counters.heapAllocBytes / m.requests / 1024));
      out.push({
        target,
        scenario,
        runs: runs.length,
        perSecond: spread(runs.map((m) => m.perSecond)),
        p50Ms: spread(runs.map((m) => m.p50Ms)),
        p99Ms: spread(runs.map((m) => m.p99Ms)),
        cpuUsPerRequest: spread(runs.map((m) => m.cpuUsPerRequest)),
        cpuRatioToBaseline: target === floorTarget(scenario) ? null : spread(runs.map((m) => m.cpuRatioToBaseline)),
        ttftOverheadP50Ms: target === 'direct' ? null : spread(runs.map((m) => m.ttftOverheadP50Ms)),
        ttftOverheadP99Ms: target === 'direct' ? null : spread(runs.map((m) => m.ttftOverheadP99Ms)),
        peakRssMiB: rss.length === 0 ? null : Math.max(...rss),
        p99RatioToBaseline: target === floorTarget(scenario) ? null : spread(runs.map((m) => p99Ratio(m, measurements))),
        loopDelayP99Ms: spread(runs.map((m) => m.loop?.delayP99Ms ?? null)),
        gcMaxMs: spread(runs.map((m) => m.loop?.gcMaxMs ?? null)),
        gcMsPerS: spread(runs.map((m) => (m.loop === null ? null : m.loop.gcMs / m.durationS))),
        redisCommandsPerRequest: spread(redis),
        storeTxPer100Requests: spread(storeTx),
        heapAllocKiBPerRequest: spread(alloc),
        requests: runs.reduce((sum, m) => sum + m.requests, 0),
        errors: runs.reduce((sum, m) => sum + m.errors, 0),
        non2xx: runs.reduce((sum, m) => sum + m.non2xx, 0),
        upstreamHits: runs.reduce((sum, m) => sum + m.upstreamHits, 0),
        hitsOk: runs.every((m) => m.hitsOk),
      });
    }
  }
  return out;
}

type Side = { readonly target: string; readonly scenario: ScenarioName };

/**
 * Per run, `combine` of one figure measured on side `a` and on side `b` (two targets in one
 * scenario, or one target in two scenarios); their spread. A run without both, or with b = 0, is left out.
 */
function pairedRuns(measurements: Measurement[], a: Side, b: Side, pick: (m: Measurement) => number | null, combine: (x: number, y: number) => number): Spread | null {
  const values: Array<number | null> = [];
  for (const m of measurements) {
    if (m.target !== a.target || m.scenario !== a.scenario) continue;
    const other = measurements.find((o) => o.target === b.target && o.scenario === b.scenario && o.run === m.run);
    const x = pick(m);
    const y = other === undefined ? null : pick(other);
    values.push(x === null || y === null || y === 0 ? null : combine(x, y));
  }
  return spread(values);
}

const quotient = (x: number, y: number) => x / y;
const difference = (x: number, y: number) => x - y;

function describe(value: Spread | null, unit: string, digits: number): string {
  if (value === null) return 'not measured';
  const f = (x: number): string => x.toFixed(digits);
  return value.n > 1 ? `${f(value.median)}${unit} (${f(value.min)}–${f(value.max)})` : `${f(value.median)}${unit}`;
}

/** What one part of the chain costs: the full chain against a variant with that part off, same runs. */
export interface PartCost {
  /** The variant target, e.g. tollgate-noobs. */
  variant: string;
  /** The part the variant switches off. */
  part: string;
  /** The runs paired (full and variant both measured). */
  runs: number;
  fullCpuUs: Spread | null;
  variantCpuUs: Spread | null;
  /** Full chain CPU ÷ variant CPU, run by run. */
  ratio: Spread | null;
  /** Full − variant, µs per request, run by run. */
  partUs: Spread | null;
  /** (Full − variant) ÷ full, run by run. */
  share: Spread | null;
}

/** The parts the variants switch off, in report order. */
export const variantParts: ReadonlyArray<{ variant: string; part: string }> = [
  { variant: 'tollgate-nolimits', part: 'limits (global, user, key, model; RPM + TPM + concurrency each)' },
  { variant: 'tollgate-nometering', part: 'metering (token estimate, TPM, credit reservation, cost math)' },
  { variant: 'tollgate-noobs', part: 'metrics + request log' },
];

/** The cost of each part, from the non-streaming runs of 'tollgate' and its variants. */
export function partCosts(measurements: Measurement[]): PartCost[] {
  const out: PartCost[] = [];
  for (const { variant, part } of variantParts) {
    const full: Array<number | null> = [];
    const off: Array<number | null> = [];
    const ratio: Array<number | null> = [];
    const diff: Array<number | null> = [];
    const share: Array<number | null> = [];
    for (const v of measurements) {
      if (v.target !== variant || v.scenario !== 'chat' || v.cpuUsPerRequest === null) continue;
      const f = measurements.find((m) => m.target === 'tollgate' && m.scenario === 'chat' && m.run === v.run);
      if (f === undefined || f.cpuUsPerRequest === null || v.cpuUsPerRequest === 0) continue;
      full.push(f.cpuUsPerRequest);
      off.push(v.cpuUsPerRequest);
      ratio.push(f.cpuUsPerRequest / v.cpuUsPerRequest);
      diff.push(f.cpuUsPerRequest - v.cpuUsPerRequest);
      share.push((f.cpuUsPerRequest - v.cpuUsPerRequest) / f.cpuUsPerRequest);
    }
    if (full.length === 0) continue;
    out.push({ variant, part, runs: full.length, fullCpuUs: spread(full), variantCpuUs: spread(off), ratio: spread(ratio), partUs: spread(diff), share: spread(share) });
  }
  return out;
}

/**
 * Whether GET /metrics agrees with the store probe on writer flushes (both
 * count applyBatch transactions), over the full chain's non-streaming runs.
 */
export function writerMetricsCheck(measurements: Measurement[]): string | null {
  let probe = 0;
  let scraped = 0;
  let scrapedAny = false;
  for (const m of measurements) {
    if (m.target !== 'tollgate' || m.scenario !== 'chat') continue;
    probe += m.counters.storeTransactions ?? 0;
    if (m.counters['metrics:requests'] !== undefined) scrapedAny = true;
    scraped += m.counters['metrics:writerFlushes'] ?? 0;
  }
  if (probe === 0 || !scrapedAny) return null;
  if (scraped === 0) {
    return `GET /metrics \`tollgate_writer_flush_duration_seconds_count\` did not move over the tollgate non-streaming runs while the probe counted ${probe} store transactions: ` +
      'nothing in the gateway calls `GatewayMetrics.writerFlush` yet, so the store transactions above come from the probe alone.';
  }
  return `GET /metrics \`tollgate_writer_flush_duration_seconds_count\` counted ${scraped} writer flushes over the tollgate non-streaming runs; the probe counted ${probe} store transactions.`;
}

function percent(value: Spread | null): Spread | null {
  return value === null ? null : { ...value, median: value.median * 100, min: value.min * 100, max: value.max * 100 };
}

/** The project's goals, judged on medians. */
export function judgeGoals(measurements: Measurement[], summaries: ScenarioSummary[], probes: RedisProbe[], parts: PartCost[] = []): GoalStatus[] {
  const get = (target: string, scenario: ScenarioName): ScenarioSummary | undefined =>
    summaries.find((s) => s.target === target && s.scenario === scenario);
  const goals: GoalStatus[] = [];
  const ratio = get('tollgate', 'chat')?.cpuRatioToBaseline ?? null;
  goals.push({ goal: 'Tollgate full chain CPU/request ≤ 1.25 × bare baseline (same run)', actual: describe(ratio, '×', 2), met: ratio === null ? null : ratio.median <= 1.25 });
  const perCore = pairedRuns(measurements, { target: 'tollgate', scenario: 'chat' }, { target: 'peer', scenario: 'chat' }, (m) => m.perSecond, quotient);
  goals.push({ goal: 'Throughput per core ≥ 10 × the peer gateway', actual: describe(perCore, '×', 1), met: perCore === null ? null : perCore.median >= 10 });
  const ttft = get('tollgate', 'stream')?.ttftOverheadP50Ms ?? null;
  goals.push({ goal: 'Streaming TTFT overhead p50 ≤ 0.5 ms over direct', actual: describe(ttft, ' ms', 2), met: ttft === null ? null : ttft.median <= 0.5 });
  const translatedCpu = pairedRuns(measurements, { target: 'tollgate', scenario: 'translated' }, { target: 'tollgate', scenario: 'stream' }, (m) => m.cpuUsPerRequest, quotient);
  goals.push({ goal: 'Translated stream (chat client → Anthropic channel) CPU/stream ≤ 1.3 × native stream (same run)', actual: describe(translatedCpu, '×', 2), met: translatedCpu === null ? null : translatedCpu.median <= 1.3 });
  const translatedTtft = pairedRuns(measurements, { target: 'tollgate', scenario: 'translated' }, { target: 'tollgate', scenario: 'stream' }, (m) => m.p50Ms, difference);
  goals.push({ goal: 'Translated stream TTFT p50 ≤ native + 0.3 ms (same run)', actual: describe(translatedTtft, ' ms', 2), met: translatedTtft === null ? null : translatedTtft.median <= 0.3 });
  const filteredCpu = pairedRuns(measurements, { target: 'tollgate', scenario: 'filtered' }, { target: 'tollgate', scenario: 'stream' }, (m) => m.cpuUsPerRequest, quotient);
  goals.push({ goal: 'Stream with 30 response filter rules CPU/stream ≤ 1.10 × no rules (same run)', actual: describe(filteredCpu, '×', 2), met: filteredCpu === null ? null : filteredCpu.median <= 1.1 });
  const filteredTtft = pairedRuns(measurements, { target: 'tollgate', scenario: 'filtered' }, { target: 'tollgate', scenario: 'stream' }, (m) => m.p50Ms, difference);
  goals.push({ goal: 'Stream with 30 response filter rules TTFT p50 ≤ no rules + 0.2 ms (same run)', actual: describe(filteredTtft, ' ms', 2), met: filteredTtft === null ? null : filteredTtft.median <= 0.2 });
  // A hit skips the upstream call, the relay and the usage parsing, and keeps the rest of the chain
  // (authentication, admission, the record): it must cost less than relaying; its ratio to the bare
  // passthrough is in the scenario's table.
  const cachedCpu = pairedRuns(measurements, { target: 'tollgate', scenario: 'cached' }, { target: 'tollgate', scenario: 'chat' }, (m) => m.cpuUsPerRequest, quotient);
  goals.push({
    goal: 'Response cache hit CPU/request < Tollgate relaying the same request (same run)',
    actual: describe(cachedCpu, '×', 2),
    met: cachedCpu === null ? null : cachedCpu.median < 1,
    inconclusive: cachedCpu !== null && cachedCpu.min < 1 && cachedCpu.max >= 1,
  });
  const hopCpu = get('tollgate-hop', 'hop')?.cpuRatioToBaseline ?? null;
  goals.push({
    goal: 'Service hop: secure pair (egress + ingress) CPU/request ≤ 1.5 × two bare passthroughs in series (same run)',
    actual: describe(hopCpu, '×', 2),
    met: hopCpu === null ? null : hopCpu.median <= 1.5,
    inconclusive: hopCpu !== null && hopCpu.min <= 1.5 && hopCpu.max > 1.5,
  });
  const hopRate = get('tollgate-hop', 'hop')?.perSecond ?? null;
  goals.push({
    goal: 'Service hop: secure pair > 3,600 req/s through both hops, both nodes on one core',
    actual: describe(hopRate, ' req/s', 0),
    met: hopRate === null ? null : hopRate.median > 3600,
    inconclusive: hopRate !== null && hopRate.min <= 3600 && hopRate.max > 3600,
  });
  const executed = get('tollgate-redis', 'chat')?.redisCommandsPerRequest ?? null;
  const probe = probes.find((p) => p.target === 'tollgate-redis');
  goals.push({
    goal: 'Redis mode: 1 Redis round trip per request (commands sent, MONITOR probe)',
    actual:
      probe === undefined
        ? 'not measured'
        : `${probe.sentPerRequest.toFixed(2)} sent/req (${Object.entries(probe.sentByCommand).map(([name, n]) => `${name} ${(n / probe.requests).toFixed(2)}`).join(', ')}); ` +
          `INFO commandstats ${describe(executed, ' executed/req', 1)} incl. ${probe.inScriptsPerRequest.toFixed(1)}/req inside scripts`,
    // Background commands (change feed, pub/sub) are amortised into the figure: allow 2 %.
    met: probe === undefined ? null : probe.sentPerRequest <= 1.02,
  });
  const redisShare = pairedRuns(measurements, { target: 'tollgate-redis', scenario: 'chat' }, { target: 'tollgate', scenario: 'chat' }, (m) => m.perSecond, quotient);
  goals.push({
    goal: 'Redis mode throughput ≥ 80 % of memory mode',
    actual: redisShare === null ? 'not measured' : describe(percent(redisShare), ' %', 0),
    met: redisShare === null ? null : redisShare.median >= 0.8,
  });
  const storeTx = ['tollgate', 'tollgate-pg']
    .map((target) => ({ target, value: get(target, 'chat')?.storeTxPer100Requests ?? null }))
    .filter((entry): entry is { target: string; value: Spread } => entry.value !== null);
  goals.push({
    goal: 'Store transactions per 100 requests under load ≤ 1 (usage writer, non-streaming)',
    actual: storeTx.length === 0 ? 'not measured' : storeTx.map((entry) => `${entry.target} ${describe(entry.value, '', 2)}`).join('; '),
    met: storeTx.length === 0 ? null : storeTx.every((entry) => entry.value.median <= 1),
  });
  const obs = parts.find((p) => p.variant === 'tollgate-noobs');
  goals.push({
    goal: 'Metrics and request log < 5 % of CPU per request (full chain vs both off, same run)',
    actual: obs === undefined || obs.share === null ? 'not measured' : `${describe(percent(obs.share), ' %', 1)}; ${describe(obs.partUs, ' µs/req', 1)}`,
    met: obs === undefined || obs.share === null ? null : obs.share.median < 0.05,
    inconclusive: obs?.share != null && obs.share.min < 0.05 && obs.share.max >= 0.05,
  });
  return goals;
}
