/** The result tables, one per scenario, rendered as aligned text (stdout) or Markdown. */
import { isStreamScenario, type ScenarioName } from '../options.ts';
import type { Spread } from '../summary.ts';
import { writerDefaults, type WriterBenchResult } from '../metering-bench.ts';
import type { PartCost, ScenarioSummary } from './summarize.ts';

/** A titled table of formatted cells. */
export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
}

function number(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min–max)", or just the median for a single run; '–' when absent. */
export function formatSpread(value: Spread | null, digits = 0, sign = false): string {
  if (value === null) return '–';
  const f = (x: number): string => (sign && x >= 0 ? '+' : '') + number(x, digits);
  return value.n > 1 && value.min !== value.max ? `${f(value.median)} (${f(value.min)}–${f(value.max)})` : f(value.median);
}

/** "= requests", "+N in flight" (time-bounded runs stop with requests in flight) or the mismatch. */
function hits(s: ScenarioSummary): string {
  if (!s.hitsOk) return `MISMATCH: ${s.upstreamHits} for ${s.requests}`;
  // The mix relays only its LLM calls; a cache hit relays nothing.
  if (s.scenario === 'mixed' || s.upstreamHits < s.requests) return `ok (${s.upstreamHits})`;
  const extra = s.upstreamHits - s.requests;
  return extra === 0 ? 'ok (= requests)' : `ok (+${extra} in flight)`;
}

function correctness(s: ScenarioSummary): string[] {
  return [String(s.errors), String(s.non2xx), hits(s)];
}

const titles: Record<ScenarioName, string> = {
  chat: 'Non-streaming chat completions at saturation',
  stream: 'Streaming chat completions (20 chunks, 5 ms apart)',
  filtered: 'Filtered streaming: chat completions with 30 response filter rules in scope (20 literals, 10 regexes)',
  translated: 'Translated streaming: chat completions served by an Anthropic channel on the same mock (Messages events → chat chunks)',
  hop: 'Service hop: ~2 KiB POST through two nodes in series on the target core (CPU = both processes; × = over the passthrough pair, same run)',
  mixed: 'Account mix: GET /api/v1/balance : GET /api/v1/usage : POST /api/v1/proxy/llm = 10 : 5 : 1',
  cached: 'Response cache: the non-streaming chat request with x-tollgate-cache: use (Tollgate answers from its cache; the baseline relays it)',
};

/** One table per scenario present in the summaries. */
export function buildTables(summaries: ScenarioSummary[], scenarios: ScenarioName[]): Table[] {
  const tables: Table[] = [];
  for (const scenario of scenarios) {
    const rows = summaries.filter((s) => s.scenario === scenario);
    if (rows.length === 0) continue;
    if (isStreamScenario(scenario)) {
      tables.push({
        title: titles[scenario],
        headers: ['target', 'streams/s', 'TTFT p50 ms', 'TTFT p99 ms', 'TTFT +p50 ms', 'TTFT +p99 ms', 'CPU µs/stream', '× baseline', 'errors', 'non-2xx', 'upstream hits'],
        rows: rows.map((s) => [
          s.target,
          formatSpread(s.perSecond, 1),
          formatSpread(s.p50Ms, 2),
          formatSpread(s.p99Ms, 2),
          formatSpread(s.ttftOverheadP50Ms, 2, true),
          formatSpread(s.ttftOverheadP99Ms, 2, true),
          formatSpread(s.cpuUsPerRequest),
          formatSpread(s.cpuRatioToBaseline, 2),
          ...correctness(s),
        ]),
      });
      continue;
    }
    const withRedis = rows.some((s) => s.redisCommandsPerRequest !== null);
    const withStoreTx = scenario === 'chat' && rows.some((s) => s.storeTxPer100Requests !== null);
    const withAlloc = rows.some((s) => s.heapAllocKiBPerRequest !== null);
    const withLoop = rows.some((s) => s.loopDelayP99Ms !== null);
    const floorName = scenario === 'hop' ? '× passthrough pair' : '× baseline';
    const headers = ['target', 'req/s', 'p50 ms', 'p99 ms', `p99 ${floorName}`, 'CPU µs/req', floorName, 'peak RSS MiB'];
    if (withLoop) headers.push('loop delay p99 ms', 'longest GC ms', 'GC ms/s');
    if (withRedis) headers.push('Redis cmd executed/req');
    if (withStoreTx) headers.push('store tx/100 req');
    if (withAlloc) headers.push('V8 heap KiB alloc/req');
    headers.push('errors', 'non-2xx', 'upstream hits');
    tables.push({
      title: titles[scenario],
      headers,
      rows: rows.map((s) => {
        const row = [
          s.target,
          formatSpread(s.perSecond),
          formatSpread(s.p50Ms, 2),
          formatSpread(s.p99Ms, 2),
          formatSpread(s.p99RatioToBaseline, 2),
          formatSpread(s.cpuUsPerRequest),
          formatSpread(s.cpuRatioToBaseline, 2),
          s.peakRssMiB === null ? '–' : number(s.peakRssMiB, 0),
        ];
        if (withLoop) row.push(formatSpread(s.loopDelayP99Ms, 2), formatSpread(s.gcMaxMs, 1), formatSpread(s.gcMsPerS, 1));
        if (withRedis) row.push(formatSpread(s.redisCommandsPerRequest, 2));
        if (withStoreTx) row.push(formatSpread(s.storeTxPer100Requests, 2));
        if (withAlloc) row.push(formatSpread(s.heapAllocKiBPerRequest, 1));
        row.push(...correctness(s));
        return row;
      }),
    });
  }
  return tables;
}

function percentSpread(value: Spread | null): string {
  if (value === null) return '–';
  return `${formatSpread({ ...value, median: value.median * 100, min: value.min * 100, max: value.max * 100 }, 1)} %`;
}

/** "What each part costs": the full chain against each variant, run by run; null without variants. */
export function partCostTable(parts: PartCost[]): Table | null {
  if (parts.length === 0) return null;
  return {
    title: 'What each part costs (non-streaming, full chain vs the part off, same runs)',
    headers: ['part', 'variant', 'runs', 'full chain CPU µs/req', 'variant CPU µs/req', 'full ÷ variant', 'part µs/req', 'share of full chain', 'resolved'],
    rows: parts.map((p) => [
      p.part,
      p.variant,
      String(p.runs),
      formatSpread(p.fullCpuUs),
      formatSpread(p.variantCpuUs),
      formatSpread(p.ratio, 2),
      formatSpread(p.partUs, 0, true),
      percentSpread(p.share),
      // Resolved when every run put the part on the same side of zero.
      p.partUs === null ? '–' : p.partUs.min > 0 || p.partUs.max < 0 ? 'yes' : 'no: range crosses 0',
    ]),
  };
}

/** The usage writer benchmark (bench/metering-bench.ts); null when it did not run. */
export function writerBenchTable(result: WriterBenchResult | null): Table | null {
  if (result === null || result.cases.length === 0) return null;
  return {
    title: `Usage writer throughput (bench/metering-bench.ts, ${result.secondsPerCase} s per case)`,
    headers: ['store', 'batch size', 'flush interval ms', 'records', 'seconds', 'records/s', 'transactions', 'records/transaction'],
    rows: result.cases.map((c) => [
      c.store === 'sqlite' ? 'SQLite' : 'PostgreSQL',
      c.batchSize === writerDefaults.batchSize ? `${c.batchSize} (default)` : String(c.batchSize),
      String(c.flushIntervalMs),
      number(c.records, 0),
      number(c.seconds, 2),
      number(c.recordsPerS, 0),
      number(c.transactions, 0),
      number(c.recordsPerTransaction, 1),
    ]),
  };
}

/** Fixed-width text, numbers right-aligned. */
export function renderText(table: Table): string {
  const widths = table.headers.map((header, i) => Math.max(header.length, ...table.rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [table.title, line(table.headers), rule, ...table.rows.map(line)].join('\n');
}

/** A GitHub-flavoured Markdown table under a level-3 heading. */
export function renderMarkdown(table: Table): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const align = table.headers.map((_, i) => (i === 0 ? ':--' : '--:'));
  return [`### ${table.title}`, '', line(table.headers), line(align), ...table.rows.map(line)].join('\n');
}
