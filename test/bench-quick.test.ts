/**
 * The bench harness is code too: a --quick run (a few hundred requests per
 * target, count-bounded) must show every target serving every request with
 * no errors, and the upstream seeing exactly one hit per relayed request.
 * No timing assertions: the figures themselves are not checked.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isStreamScenario, parseBenchArgs, variantTargets } from '../bench/options.ts';
import { peerDir, tollgateCli } from '../bench/paths.ts';
import type { TargetStatus } from '../bench/report/bench-report.ts';
import { runBenchReport, type BenchReport } from '../bench/run.ts';
import type { Measurement } from '../bench/scenarios.ts';
import { percentile, spread } from '../bench/summary.ts';

const peerInstalled = existsSync(join(peerDir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js'));
const tollgateBuilt = existsSync(tollgateCli);
/** Two processes in series each; they run the 'hop' scenario only. */
const pairTargets = ['passthrough-pair', 'tollgate-hop', 'tollgate-hop-nozip'];

test('percentile and spread', () => {
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 99), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.deepEqual(spread([3, null, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.equal(spread([null]), null);
});

test('bench flags: --quick is count-bounded, bad flags are named', () => {
  const quick = parseBenchArgs(['--quick', '--no-peer']);
  assert.equal(quick.load, 'autocannon');
  assert.equal(quick.runs, 1);
  assert.equal(quick.write, false);
  assert.equal(quick.writerBench, false);
  assert.ok(!quick.targets.includes('peer'));
  assert.ok(!parseBenchArgs(['--no-variants']).targets.some((name) => variantTargets.includes(name)));
  assert.throws(() => parseBenchArgs(['--targets', 'direct,nginx']), /--targets: unknown "nginx"/);
  assert.throws(() => parseBenchArgs(['--runs', '0']), /--runs must be a positive number/);
});

test('bench --quick: every target serves all requests, 0 errors, upstream hits = requests', { timeout: 360_000 }, async (t) => {
  const targets = ['direct', 'baseline'];
  if (tollgateBuilt) targets.push('tollgate', ...variantTargets, 'tollgate-redis', 'tollgate-pg', ...pairTargets);
  if (peerInstalled) targets.push('peer');
  const lines: string[] = [];
  const report: BenchReport | null = await runBenchReport(['--quick', '--targets', targets.join(',')], { log: (line) => lines.push(line) });
  assert.ok(report !== null);
  t.diagnostic(lines.filter((line) => line.startsWith('run ') || line.includes('skipped')).join('\n'));

  for (const name of targets) {
    const status: TargetStatus | undefined = report.targets.find((target) => target.name === name);
    assert.ok(status !== undefined, `${name} is in the report`);
    // Redis and PostgreSQL modes may be skipped when those servers do not answer; nothing else may.
    if (status.status === 'skipped') {
      assert.ok(name === 'tollgate-redis' || name === 'tollgate-pg', `${name} skipped: ${status.note}`);
      t.diagnostic(`${name} skipped: ${status.note}`);
      continue;
    }
    const runs: Measurement[] = report.measurements.filter((m) => m.target === name);
    // The variants (full chain with one part off) run the non-streaming scenario only.
    // 'cached' runs on the full chain (answered from its response cache) and on the baseline (relayed: its floor).
    const scenarios = pairTargets.includes(name) ? ['hop'] : variantTargets.includes(name) ? ['chat'] : name === 'tollgate' ? ['chat', 'stream', 'translated', 'filtered', 'mixed', 'cached'] : name.startsWith('tollgate') ? ['chat', 'stream', 'mixed'] : name === 'baseline' ? ['chat', 'stream', 'cached'] : ['chat', 'stream'];
    assert.deepEqual(runs.map((m) => m.scenario).sort(), [...scenarios].sort(), `${name} ran every scenario once`);
    for (const m of runs) {
      const what = `${name} ${m.scenario}`;
      const expected: number = isStreamScenario(m.scenario) ? report.options.quickStreams : report.options.quickRequests;
      assert.equal(m.requests, expected, `${what}: served all ${expected}`);
      assert.equal(m.errors, 0, `${what}: errors`);
      assert.equal(m.non2xx, 0, `${what}: non-2xx`);
      if (name === 'tollgate' && m.scenario === 'cached') {
        // Answered from the response cache: the first request is the one miss (no warm-up with --quick).
        assert.equal(m.upstreamHits, 1, `${what}: one upstream call for all ${expected} requests`);
        assert.ok(m.hitsOk);
        continue;
      }
      // Count-bounded runs know exactly how many requests were relayed: all of
      // them for chat and stream, the proxy/llm ones (counted) for the mix.
      assert.equal(m.expectedHits.min, m.expectedHits.max, `${what}: count-bounded`);
      if (m.scenario !== 'mixed') assert.equal(m.expectedHits.min, expected, `${what}: every request relayed`);
      else assert.ok(m.expectedHits.min > 0, `${what}: some requests relayed`);
      assert.equal(m.upstreamHits, m.expectedHits.min, `${what}: upstream hits equal relayed requests`);
      assert.ok(m.hitsOk);
      // The store probe answers and saw the usage writer commit (the exact count is read, not awaited, so only > 0).
      // Both processes of a pair carry the allocation probe: it answered and counted.
      if (pairTargets.includes(name)) assert.ok((m.counters.heapAllocBytes ?? 0) > 0, `${what}: heap allocations counted`);
      if (name.startsWith('tollgate') && m.scenario === 'chat') {
        assert.ok((m.counters.storeTransactions ?? 0) > 0, `${what}: store transactions counted`);
        assert.ok((m.counters.storeRecords ?? 0) > 0, `${what}: usage records counted`);
      }
    }
  }
  // Each variant paired with the full chain in the cost-breakdown table.
  if (tollgateBuilt) assert.deepEqual(report.partCosts.map((part) => part.variant), [...variantTargets]);
  // The hop goals are judged from the pairs (met or not: figures are not checked here).
  if (tollgateBuilt) {
    for (const goal of ['Service hop: secure pair (egress + ingress) CPU/request', 'Service hop: secure pair > 3,600 req/s']) {
      assert.notEqual(report.goals.find((g) => g.goal.startsWith(goal))?.met ?? null, null, `${goal} judged`);
    }
  }
  if (!tollgateBuilt) t.diagnostic(`Tollgate targets not run: ${tollgateCli} missing`);
  if (!peerInstalled) t.diagnostic('peer gateway not installed (bench/peer): skipped');
});
