/**
 * Messages between a worker and the main thread of `serve --workers N`, over
 * the worker's port (structured clone; one port per worker, so each worker's
 * messages arrive in the order it sent them).
 *
 * Hot path: admissions, settlements and usage records of one event-loop turn
 * travel as ONE `ops` message, processed in order; the verdicts of one turn
 * of the main thread come back as ONE `verdicts` message. Settling before
 * recording matters: the ledger must count a cost as pending before the
 * writer reports it committed (ledger.ts, `committed`).
 *
 * Everything else (change feed, metrics, listening, shutdown) is a request
 * with an id and one reply carrying the same id.
 */
import type { BudgetPolicy, BudgetUsage } from '../limiter/budget.ts';
import type { BalanceSnapshot } from '../metering/ledger.ts';
import type { GateRequest, GateVerdict } from '../gateway/admission-gate.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { LatencySnapshot } from '../observability/latency-stats.ts';
import type { Registry } from 'prom-client';
import type { RateLimitState } from '../limiter/limiter.ts';
import type { ReplayVerdict } from '../services/hop/replay-guard.ts';

/** A registry as prom-client's `getMetricsAsJSON` gives it (the input of AggregatorRegistry.aggregate). */
export type RegistryJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** One hot-path operation; ids are the worker's own admission numbers. */
export type Op =
  | { readonly op: 'admit'; readonly id: number; readonly req: GateRequest }
  | { readonly op: 'settle'; readonly id: number; readonly tokens: number; readonly costMicros: number }
  | { readonly op: 'record'; readonly record: UsageRecordInsert };

/** A verdict as it crosses the port: an admitted grant is named by the admission's id. */
export type WireVerdict =
  | { readonly kind: 'admitted'; readonly reservedMicros: number | null; readonly state: RateLimitState | null }
  | Exclude<GateVerdict, { kind: 'admitted' }>;

/** Requests a worker makes of the main thread, with the reply each gets. */
export interface WorkerAsks {
  balance: { ask: { userId: number; load: boolean }; reply: BalanceSnapshot | null };
  /** Apply the change feed everywhere (an admin write on this worker). */
  pollEverywhere: { ask: null; reply: null };
  metrics: { ask: null; reply: { contentType: string; body: string } };
  latency: { ask: null; reply: LatencySnapshot };
  resetLatency: { ask: null; reply: null };
  /** Spend so far of budgets the main thread's limiter judges (account API, dashboard). */
  budgetUsage: { ask: readonly BudgetPolicy[]; reply: BudgetUsage[] };
  /** A hop nonce: seen before on any worker? */
  replay: { ask: { nonce: string; ts: number; now: number }; reply: ReplayVerdict };
}

/** Requests the main thread makes of a worker. */
export interface OwnerAsks {
  /** Poll the change feed now. */
  poll: { ask: null; reply: null };
  /** This worker's registry as prom-client JSON (for AggregatorRegistry.aggregate). */
  collect: { ask: null; reply: RegistryJson };
  /** This worker's latency histograms, encoded (latency-stats.ts `exportHistograms`). */
  histograms: { ask: null; reply: unknown };
  resetLatency: { ask: null; reply: null };
}

export type AskMessage<A> = { [K in keyof A]: { readonly t: 'ask'; readonly id: number; readonly kind: K; readonly body: A[K] extends { ask: infer Q } ? Q : never } }[keyof A];
export interface ReplyMessage { readonly t: 'reply'; readonly id: number; readonly body: unknown; readonly error?: string }

/** Worker → main thread. */
export type FromWorker =
  | { readonly t: 'ops'; readonly ops: Op[] }
  | AskMessage<WorkerAsks>
  | ReplyMessage
  /** Started and listening (url), or failed to start. */
  | { readonly t: 'listening'; readonly url: string; readonly adminUrl: string | null }
  | { readonly t: 'failed'; readonly error: string }
  /** Drained and closed: nothing more will come. */
  | { readonly t: 'closed' };

/** Main thread → worker. */
export type ToWorker =
  | { readonly t: 'verdicts'; readonly verdicts: [number, WireVerdict][] }
  | AskMessage<OwnerAsks>
  | ReplyMessage
  /** Every worker listens now. */
  | { readonly t: 'serving' }
  /** Stop accepting, drain, flush and close. */
  | { readonly t: 'drain' };
