/**
 * What a worker of `serve --workers N` gets from the main thread instead of
 * building it: the admission gate and the usage queue (both answered by the
 * main thread's single limiter, ledger and writer), the change feed applied
 * everywhere, and the whole server's metrics. src/main.ts composes a worker
 * from it; src/workers/gate-client.ts implements it over the worker's port.
 */
import type { AdmissionGate } from '../gateway/admission-gate.ts';
import type { UsageQueue } from '../gateway/gateway.ts';
import type { Limiter } from '../limiter/limiter.ts';
import type { LatencySnapshot } from '../observability/latency-stats.ts';
import type { ReplayCheck } from '../services/hop/replay-guard.ts';

export interface WorkerLink {
  /** 0..N-1; worker 0 also serves the separate admin listener and the profiler when configured. */
  readonly index: number;
  readonly gate: AdmissionGate;
  readonly writer: UsageQueue;
  /** Rate limits of service routes: the main thread's through the gate, or this worker's Redis limiter (closed by its owner, worker-main.ts). */
  readonly limiter: Limiter;
  /** True once every worker listens on the shared port (/readyz says 'starting' until then). */
  allListening(): boolean;
  /** Applies the change feed in every worker and the main thread; resolves when all have (admin writes). */
  pollEverywhere(): Promise<void>;
  /** The whole server's /metrics: every worker's registry and the main thread's, aggregated. */
  renderMetrics(): Promise<{ contentType: string; body: string }>;
  /** The whole server's GET /api/metrics: every worker's histograms merged. */
  latencySnapshot(): Promise<LatencySnapshot>;
  /** POST /api/metrics/reset on every worker. */
  resetLatency(): Promise<void>;
  /** Hop nonces (service routes' ingress), checked against the main thread's one guard. */
  readonly replay: ReplayCheck;
  /** Sends what is still batched (settlements, records) to the main thread now. */
  flush(): void;
}
