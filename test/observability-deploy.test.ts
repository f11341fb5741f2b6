import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { emptyRequestOutcome } from '../src/observability/request-outcome.ts';

// dist/test/x.js → repository root
const root = fileURLToPath(new URL('../../', import.meta.url));
const deploy = (name: string) => root + 'deploy/' + name;

/**
 * Every sample and family name a GatewayMetrics exposes after some traffic, plus
 * the _bucket/_sum/_count names of every histogram family (some, like GC
 * durations, have no sample until the event happens).
 */
async function exportedNames(): Promise<Set<string>> {
  const m = new GatewayMetrics();
  m.registerPool('db', () => ({ total: 4, idle: 1, waiting: 0 }));
  for (let i = 0; i < 20; i++) {
    m.recordRequest(Object.assign(emptyRequestOutcome(), {
      route: 'chat', model: `m${i % 2}`, channel: 'c', status: i % 5 ? 200 : 502, outcome: i % 5 ? 'ok' : 'upstream_error',
      errorClass: i % 5 ? null : 'upstream_5xx', stream: i % 2 === 0, latencyMs: 100 + i, upstreamMs: 99, ttftMs: 20,
      promptTokens: 3, completionTokens: 4, costMicros: 10, attempts: 1,
    }));
  }
  m.limiterDecision('rpm', true);
  m.failover('c', '5xx');
  m.cooldown('c');
  m.cacheLookup('auth', true);
  m.writerFlush(3, 0.001);
  m.spooled(1);
  m.redisError('limit');
  const names = new Set<string>();
  for (const line of (await m.render()).body.split('\n')) {
    const tm = /^# TYPE (\S+) (\S+)/.exec(line);
    if (tm) {
      names.add(tm[1]);
      if (tm[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(tm[1] + suffix);
    }
    const sm = /^([a-zA-Z_:][\w:]*)[{ ]/.exec(line);
    if (sm) names.add(sm[1]);
  }
  return names;
}

function metricNamesIn(exprs: string[]): Set<string> {
  const out = new Set<string>();
  for (const e of exprs) for (const m of e.matchAll(/\btollgate_[a-zA-Z0-9_]+/g)) out.add(m[0]);
  return out;
}

/** Every string under a key named `expr` or `query`/`definition` anywhere in a JSON value. */
function collectExprs(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) collectExprs(x, out);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'expr' || k === 'query' || k === 'definition') && typeof x === 'string') out.push(x);
      else collectExprs(x, out);
    }
  }
  return out;
}

test('the Grafana dashboard uses only exported metric names', async () => {
  const names = await exportedNames();
  const dash = JSON.parse(await readFile(deploy('grafana-dashboard.json'), 'utf8')) as { panels: { targets?: { expr: string }[] }[]; title: string };
  assert.equal(dash.title, 'Tollgate');
  const exprs = collectExprs(dash);
  assert.ok(exprs.length >= 30, `only ${exprs.length} expressions`);
  const used = metricNamesIn(exprs);
  assert.ok(used.size >= 20);
  for (const n of used) assert.ok(names.has(n), `dashboard uses ${n}, which /metrics does not export`);
  // Each panel's target has an expression; ids are unique.
  const ids = new Set<number>();
  for (const p of dash.panels as { id: number; targets?: { expr: string }[] }[]) {
    assert.ok(!ids.has(p.id), `duplicate panel id ${p.id}`);
    ids.add(p.id);
    for (const t of p.targets ?? []) assert.ok(t.expr.length > 0);
  }
});

test('alert rules use only exported metric names and cover the required cases', async () => {
  const names = await exportedNames();
  const doc = parseYaml(await readFile(deploy('prometheus-alerts.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const rules = doc.groups.flatMap((g) => g.rules);
  const used = metricNamesIn(rules.map((r) => r.expr));
  for (const n of used) assert.ok(names.has(n), `alert rules use ${n}, which /metrics does not export`);
  const alerts = new Set(rules.map((r) => r.alert));
  for (const a of ['TollgateHighP99Latency', 'TollgateHighErrorRate', 'TollgateWriterBacklog', 'TollgateRedisErrors']) assert.ok(alerts.has(a), a);
});

test('the sample scrape config points at /metrics and loads the alert rules', async () => {
  const cfg = parseYaml(await readFile(deploy('prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string; metrics_path: string }[] };
  assert.deepEqual(cfg.rule_files, ['prometheus-alerts.yml']);
  const job = cfg.scrape_configs.find((j) => j.job_name === 'tollgate');
  assert.equal(job?.metrics_path, '/metrics');
});

test('promtool accepts the rules and config (when promtool is installed; CI installs it)', (t) => {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
  } catch {
    // .ci/run installs Debian's prometheus package: in CI a missing promtool is a failure, not a skip.
    if (process.env.CI === 'true') assert.fail('promtool is missing in CI (.ci/run installs the prometheus package)');
    t.skip('promtool not installed (apt-get install prometheus)');
    return;
  }
  execFileSync('promtool', ['check', 'rules', deploy('prometheus-alerts.yml')], { stdio: 'pipe' });
  execFileSync('promtool', ['check', 'config', deploy('prometheus.yml')], { stdio: 'pipe' });
});
