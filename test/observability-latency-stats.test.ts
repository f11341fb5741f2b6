import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyStats } from '../src/observability/latency-stats.ts';
import { emptyRequestOutcome, type RequestOutcome } from '../src/observability/request-outcome.ts';

function outcome(over: Partial<RequestOutcome>): RequestOutcome {
  return Object.assign(emptyRequestOutcome(), { route: 'chat', model: 'm', channel: 'c', status: 200, attempts: 1 }, over);
}

/** 3 significant digits: within 0.1% of the true value (HDR reports the bucket's highest equivalent value). */
function near(actual: number, expected: number): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.001 + 0.001, `${actual} not within 0.1% of ${expected}`);
}

for (const engine of ['wasm', 'js'] as const) {
  test(`${engine}: percentiles of 1..1000 ms uniform are exact to 3 significant digits`, () => {
    const stats = new LatencyStats({ engine });
    try {
      for (let ms = 1; ms <= 1000; ms++) {
        stats.record(outcome({ latencyMs: ms, model: ms % 2 ? 'odd' : 'even', channel: 'c1', stream: ms <= 100, ttftMs: ms <= 100 ? ms / 10 : -1 }));
      }
      const snap = stats.snapshot();
      assert.equal(snap.overall.count, 1000);
      near(snap.overall.latency.p50, 500);
      near(snap.overall.latency.p95, 950);
      near(snap.overall.latency.p99, 990);
      near(snap.overall.latency.max, 1000);
      near(snap.overall.latency.mean, 500.5);
      // TTFT: only the 100 streamed requests, 0.1..10 ms.
      assert.equal(snap.overall.ttft.count, 100);
      near(snap.overall.ttft.p50, 5);
      near(snap.overall.ttft.p99, 9.9);
      assert.deepEqual(Object.keys(snap.models).sort(), ['even', 'odd']);
      assert.equal(snap.models.odd.count, 500);
      near(snap.models.even.latency.max, 1000);
      near(snap.models.odd.latency.max, 999);
      assert.equal(snap.channels.c1.count, 1000);
      assert.match(snap.precision, /3 significant digits/);
      assert.ok(!Number.isNaN(Date.parse(snap.since)));
    } finally {
      stats.close();
    }
  });
}

test('reset clears every histogram and moves since', async () => {
  const stats = new LatencyStats();
  try {
    stats.record(outcome({ latencyMs: 12, stream: true, ttftMs: 3 }));
    const before = stats.snapshot();
    assert.equal(before.overall.count, 1);
    await new Promise((r) => setTimeout(r, 5));
    stats.reset();
    const after = stats.snapshot();
    assert.equal(after.overall.count, 0);
    assert.deepEqual(after.overall.latency, { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 });
    assert.deepEqual(after.models, {});
    assert.deepEqual(after.channels, {});
    assert.ok(Date.parse(after.since) > Date.parse(before.since));
    stats.record(outcome({ latencyMs: 7 }));
    near(stats.snapshot().models.m.latency.p99, 7);
  } finally {
    stats.close();
  }
});

test('keys are capped; unresolved models and missing channels are only in overall', () => {
  const stats = new LatencyStats({ maxKeys: 2, engine: 'js' });
  try {
    stats.record(outcome({ model: 'junk', status: 404, attempts: 0, channel: '' }));
    for (const model of ['a', 'b', 'c', 'd']) stats.record(outcome({ model, latencyMs: 10 }));
    stats.record(outcome({ model: '', channel: '', status: 401, attempts: 0 }));
    const snap = stats.snapshot();
    assert.equal(snap.overall.count, 6);
    assert.deepEqual(Object.keys(snap.models).sort(), ['a', 'b', 'other']);
    assert.equal(snap.models.other.count, 3);
    assert.deepEqual(Object.keys(snap.channels), ['c']);
    assert.equal(snap.channels.c.count, 4);
  } finally {
    stats.close();
  }
});

test('huge and invalid values are clamped, not thrown', () => {
  const stats = new LatencyStats();
  try {
    stats.record(outcome({ latencyMs: 10 * 3_600_000 }));
    stats.record(outcome({ latencyMs: Number.NaN }));
    stats.record(outcome({ latencyMs: -5 }));
    const snap = stats.snapshot();
    assert.equal(snap.overall.count, 3);
    near(snap.overall.latency.max, 3_600_000);
  } finally {
    stats.close();
  }
});
