/**
 * Prometheus metrics of service routes, on the gateway's registry: calls by
 * service and status, and call latency by service. Children are cached on the
 * service entry, so a call updates plain numbers (see fast-metric.ts).
 */
import type { Registry } from 'prom-client';
import { FastCounter, FastHistogram } from '../observability/fast-metric.ts';
import type { ServiceEntry } from './service-table.ts';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ServiceMetrics {
  readonly requests = new FastCounter('tollgate_service_requests_total', 'Service route calls finished, by service and HTTP status.', ['service', 'status']);
  readonly latency = new FastHistogram('tollgate_service_request_duration_seconds', 'Service route call duration, by service.', ['service'], LATENCY_BUCKETS);
  readonly dropped = new FastCounter('tollgate_service_records_dropped_total', 'Service call records dropped because the record queue was full.', []);

  constructor(registry: Registry) {
    this.requests.registerWith(registry);
    this.latency.registerWith(registry);
    this.dropped.registerWith(registry);
  }

  /** One finished call; `entry` null for an unknown service (label "other"). */
  observe(entry: ServiceEntry | null, status: number, seconds: number): void {
    if (entry === null) {
      this.requests.child('other', String(status)).inc();
      return;
    }
    let c = entry.requestsByStatus.get(status);
    if (c === undefined) entry.requestsByStatus.set(status, (c = this.requests.child(entry.name, String(status))));
    c.inc();
    (entry.latency ??= this.latency.child(entry.name)).observe(seconds);
  }
}
