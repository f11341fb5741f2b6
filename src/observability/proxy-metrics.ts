/**
 * Per-proxy metrics: attempts sent through each outbound proxy, the failures
 * blamed on it, and how long its attempts took. One set of children per proxy,
 * resolved when the proxy table is built, so an attempt pays field updates.
 * Proxy names come from operators, but are capped anyway.
 */
import type { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metric.ts';
import { LabelCap } from './label-cap.ts';
import type { ProxyCounters } from '../routing/proxy-table.ts';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ProxyMetrics {
  readonly requests = new FastCounter('tollgate_proxy_requests_total', 'Upstream attempts sent through an outbound proxy, by proxy.', ['proxy']);
  readonly failures = new FastCounter('tollgate_proxy_failures_total', 'Attempts failed by the proxy itself (unreachable, credentials refused, ...), by proxy and error class.', ['proxy', 'reason']);
  readonly duration = new FastHistogram('tollgate_proxy_request_duration_seconds', 'Time from dispatch to the end of an attempt through an outbound proxy, by proxy.', ['proxy'], DURATION_BUCKETS);
  readonly #names = new LabelCap(100);
  readonly #reasons = new LabelCap(32, 64);

  constructor(registry: Registry) {
    for (const m of [this.requests, this.failures, this.duration]) m.registerWith(registry);
  }

  /** The counters of one proxy, for its table entry. */
  countersFor(name: string): ProxyCounters {
    const label = this.#names.bound(name);
    const requests = this.requests.child(label);
    const duration = this.duration.child(label);
    requests.inc(0);
    return {
      attempt: () => requests.value++,
      failure: (reason) => this.failures.child(label, this.#reasons.bound(reason)).value++,
      done: (seconds) => duration.observe(seconds),
    };
  }
}

/** Counters that count nothing, when metrics are off. */
export const NO_PROXY_COUNTERS: ProxyCounters = { attempt() {}, failure() {}, done() {} };
