import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayMetrics } from '../src/observability/metrics.ts';
import { emptyRequestOutcome, type RequestOutcome } from '../src/observability/request-outcome.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Minimal Prometheus text-format parser: enough to read our own exposition back. */
function parseProm(body: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of body.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name, type);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, '$1');
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      total += s.value;
      found = true;
    }
  }
  assert.ok(found, `no sample ${name} ${JSON.stringify(labels)}`);
  return total;
}

function outcome(over: Partial<RequestOutcome>): RequestOutcome {
  return Object.assign(emptyRequestOutcome(), { route: 'chat', model: 'gpt-4o', channel: 'openai-1', status: 200, attempts: 1, latencyMs: 120, upstreamMs: 100 }, over);
}

test('request counters and histograms equal the recorded outcomes', async () => {
  const m = new GatewayMetrics({ defaultMetrics: false });
  for (let i = 0; i < 7; i++) m.recordRequest(outcome({ stream: true, ttftMs: 40 + i, promptTokens: 10, completionTokens: 5, costMicros: 1000 }));
  for (let i = 0; i < 3; i++) m.recordRequest(outcome({ stream: false, promptTokens: 20, completionTokens: 1, costMicros: 250 }));
  m.recordRequest(outcome({ status: 502, outcome: 'upstream_error', errorClass: 'ECONNRESET', attempts: 2 }));
  m.recordRequest(outcome({ route: 'embeddings', model: 'text-embedding-3-small', channel: '', status: 429, outcome: 'refused', attempts: 0, upstreamMs: 0 }));

  const { samples, types } = parseProm((await m.render()).body);
  assert.equal(value(samples, 'tollgate_requests_total', { route: 'chat', model: 'gpt-4o', channel: 'openai-1', status: '200' }), 10);
  assert.equal(value(samples, 'tollgate_requests_total', { status: '502' }), 1);
  assert.equal(value(samples, 'tollgate_requests_total', { route: 'embeddings', channel: 'none', status: '429' }), 1);
  assert.equal(value(samples, 'tollgate_requests_total'), 12);
  assert.equal(value(samples, 'tollgate_request_outcomes_total', { route: 'chat', outcome: 'ok' }), 10);
  assert.equal(value(samples, 'tollgate_request_outcomes_total', { outcome: 'refused' }), 1);
  assert.equal(value(samples, 'tollgate_request_errors_total', { error_class: 'ECONNRESET' }), 1);
  assert.equal(value(samples, 'tollgate_request_duration_seconds_count'), 12);
  assert.equal(value(samples, 'tollgate_request_duration_seconds_bucket', { route: 'chat', le: '+Inf' }), 11);
  assert.equal(value(samples, 'tollgate_request_duration_seconds_bucket', { route: 'chat', le: '0.1' }), 0);
  assert.equal(value(samples, 'tollgate_request_duration_seconds_bucket', { route: 'chat', le: '0.25' }), 11);
  // TTFT only for streamed outcomes; upstream only for those that reached one.
  assert.equal(value(samples, 'tollgate_ttft_seconds_count'), 7);
  assert.ok(Math.abs(value(samples, 'tollgate_ttft_seconds_sum') - (40 * 7 + 21) / 1000) < 1e-9);
  assert.equal(value(samples, 'tollgate_upstream_duration_seconds_count'), 11);
  assert.equal(value(samples, 'tollgate_overhead_seconds_count'), 12);
  assert.equal(value(samples, 'tollgate_overhead_seconds_bucket', { route: 'chat', le: '0.025' }), 11);
  assert.equal(value(samples, 'tollgate_tokens_total', { kind: 'prompt' }), 7 * 10 + 3 * 20);
  assert.equal(value(samples, 'tollgate_tokens_total', { kind: 'completion' }), 7 * 5 + 3);
  assert.equal(value(samples, 'tollgate_credits_charged_micros_total'), 7 * 1000 + 3 * 250);
  assert.equal(value(samples, 'tollgate_upstream_attempts_total'), 10 + 2);
  assert.equal(types.get('tollgate_requests_total'), 'counter');
  assert.equal(types.get('tollgate_request_duration_seconds'), 'histogram');
  // No per-user or per-key label anywhere.
  for (const s of samples) {
    for (const k of Object.keys(s.labels)) assert.ok(!/user|key/i.test(k), `label ${k} on ${s.name}`);
  }
});

test('model and channel labels are capped and fold into "other"', async () => {
  const m = new GatewayMetrics({ defaultMetrics: false, maxModels: 3, maxChannels: 2 });
  // A failed request that never reached an upstream must not spend a slot.
  m.recordRequest(outcome({ model: 'junk-from-client', status: 400, outcome: 'bad_request', attempts: 0 }));
  for (let i = 0; i < 6; i++) m.recordRequest(outcome({ model: `m${i}`, channel: `c${i % 3}` }));
  m.recordRequest(outcome({ model: 'm5', channel: 'c2' })); // cached raw key that folded: still "other"
  const { samples } = parseProm((await m.render()).body);
  const models = new Set(samples.filter((s) => s.name === 'tollgate_requests_total').map((s) => s.labels.model));
  assert.deepEqual([...models].sort(), ['m0', 'm1', 'm2', 'other']);
  const channels = new Set(samples.filter((s) => s.name === 'tollgate_requests_total').map((s) => s.labels.channel));
  assert.deepEqual([...channels].sort(), ['c0', 'c1', 'other']);
  assert.equal(value(samples, 'tollgate_requests_total', { model: 'other' }), 5); // junk + m3, m4, m5, m5
  assert.equal(value(samples, 'tollgate_requests_total'), 8);
});

test('series cap folds new combinations into model/channel "other"', async () => {
  const m = new GatewayMetrics({ defaultMetrics: false, maxSeries: 2 });
  for (let i = 0; i < 5; i++) m.recordRequest(outcome({ model: `m${i}` }));
  const { samples } = parseProm((await m.render()).body);
  const series = samples.filter((s) => s.name === 'tollgate_requests_total');
  assert.equal(series.length, 3);
  assert.equal(value(samples, 'tollgate_requests_total', { model: 'other', channel: 'other' }), 3);
});

test('stage methods, gauges and default metrics render as Prometheus text', async () => {
  const m = new GatewayMetrics();
  const other = new GatewayMetrics(); // registries are per instance: no name clash
  m.limiterDecision('rpm', true);
  m.limiterDecision('rpm', true);
  m.limiterDecision('tpm', false);
  m.failover('openai-1', '5xx');
  m.cooldown('openai-1');
  m.cacheLookup('auth', true);
  m.cacheLookup('auth', false);
  m.cacheLookup('auth', true);
  m.setWriterQueueDepth(17);
  m.writerFlush(100, 0.004);
  m.spooled(3);
  m.redisError('limit');
  let poolSize = 5;
  m.registerGauge('tollgate_db_pool_total', 'Connections in the database pool.', () => poolSize);
  assert.throws(() => m.registerGauge('db_pool', 'x', () => 1), /must start with tollgate_/);
  poolSize = 6;
  m.registerPool('db', () => ({ total: 10, idle: 4, waiting: 2 }));
  m.registerPool('redis', () => ({ total: 1, idle: 0, waiting: 5 }));

  const { contentType, body } = await m.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(body, /^# TYPE tollgate_limiter_decisions_total counter$/m);
  const { samples, types } = parseProm(body);
  assert.equal(value(samples, 'tollgate_limiter_decisions_total', { kind: 'rpm', decision: 'allowed' }), 2);
  assert.equal(value(samples, 'tollgate_limiter_decisions_total', { kind: 'tpm', decision: 'denied' }), 1);
  assert.equal(value(samples, 'tollgate_failovers_total', { channel: 'openai-1', reason: '5xx' }), 1);
  assert.equal(value(samples, 'tollgate_channel_cooldowns_total', { channel: 'openai-1' }), 1);
  assert.equal(value(samples, 'tollgate_cache_lookups_total', { cache: 'auth', result: 'hit' }), 2);
  assert.equal(value(samples, 'tollgate_cache_lookups_total', { cache: 'auth', result: 'miss' }), 1);
  assert.equal(value(samples, 'tollgate_writer_queue_depth'), 17);
  assert.equal(value(samples, 'tollgate_writer_flush_duration_seconds_count'), 1);
  assert.equal(value(samples, 'tollgate_writer_flushed_records_total'), 100);
  assert.equal(value(samples, 'tollgate_writer_spooled_records_total'), 3);
  assert.equal(value(samples, 'tollgate_redis_errors_total', { op: 'limit' }), 1);
  assert.equal(value(samples, 'tollgate_db_pool_total'), 6);
  assert.equal(value(samples, 'tollgate_pool_connections', { pool: 'db', state: 'idle' }), 4);
  assert.equal(value(samples, 'tollgate_pool_connections', { pool: 'db', state: 'total' }), 10);
  assert.equal(value(samples, 'tollgate_pool_waiting', { pool: 'redis' }), 5);
  const elu = value(samples, 'tollgate_eventloop_utilization');
  assert.ok(elu >= 0 && elu <= 1);
  for (const name of ['tollgate_process_resident_memory_bytes', 'tollgate_nodejs_heap_size_used_bytes', 'tollgate_nodejs_eventloop_lag_p99_seconds']) {
    assert.ok(types.has(name), `default metric ${name}`);
  }
  // Every metric name is prefixed.
  for (const name of types.keys()) assert.ok(name.startsWith('tollgate_'), name);

  const otherText = (await other.render()).body;
  assert.doesNotMatch(otherText, /tollgate_db_pool_total/);
});
