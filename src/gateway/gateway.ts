/**
 * Everything the hot path needs, built once by the composition root
 * (src/main.ts) and passed to each stage. Tables that change at run time
 * (routes, prices, policies) are swapped whole by the change feed.
 */
import type { Agent } from 'undici';
import type { Config } from '../config.ts';
import type { KeyCache } from '../keys/key-cache.ts';
import type { HealthBook } from '../routing/channel-health.ts';
import type { RouteTable } from '../routing/route-table.ts';
import type { ProxyTable } from '../routing/proxy-table.ts';
import type { Limiter } from '../limiter/limiter.ts';
import type { PolicyBook } from '../limiter/policy-book.ts';
import type { PriceBook } from '../metering/pricing.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { AdmissionGate } from './admission-gate.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import type { LatencyStats } from '../observability/latency-stats.ts';
import type { RequestOutcome } from '../observability/request-outcome.ts';
import type { RequestContext } from './context.ts';
import type { StoreHealth } from './store-health.ts';
import type { FilterBook } from '../filters/filter-book.ts';
import type { RequestTracer } from '../observability/tracing.ts';
import type { ClientAddress } from './client-address.ts';
import type { ResponseCache } from '../cache/response-cache.ts';
import type { TwoLevelCache } from '../cache/two-level-cache.ts';
import type { ResponseOwners } from './response-owners.ts';

/** Takes finished requests' usage records: O(1), never throws, never awaits. */
export interface UsageQueue {
  enqueue(record: UsageRecordInsert): void;
}

export interface GatewayParts {
  config: Config;
  keys: KeyCache;
  /** Where a request's client address comes from, for key address allow-lists. */
  clientAddress: ClientAddress;
  health: HealthBook;
  routes: RouteTable;
  /** Response filters by scope; swapped whole when rules change. */
  filters: FilterBook;
  upstream: Agent;
  /** Outbound proxies and bindings; an empty table sends everything direct through `upstream`. */
  proxies: ProxyTable;
  /** Rate limits alone (service routes); requests to models go through `gate`. */
  limiter: Limiter;
  policies: PolicyBook;
  prices: PriceBook;
  /** Limits and credits of a model request: one admit, one settle (admission-gate.ts). */
  gate: AdmissionGate;
  /** Where finished requests' usage records go: the batched writer, or the port to the main thread's. */
  writer: UsageQueue;
  metrics: GatewayMetrics | null;
  latency: LatencyStats;
  requestLog: ((o: RequestOutcome) => void) | null;
  /** OpenTelemetry spans; null when no OTLP endpoint is configured. */
  tracer: RequestTracer | null;
  countTokens: (text: string) => number;
  /** Logs an unexpected failure of one request (never a client error). */
  onError: (err: unknown, ctx: RequestContext) => void;
  /** Can keys be looked up? Drives 503s and readiness while the store is down. */
  storeHealth: StoreHealth;
  /** Logs a store failure met on the request path (rate-limited by the logger's caller if needed). */
  onStoreError: (err: unknown) => void;
  /** The exact response cache; null when cache.enabled is false (then no request pays more than this null check). */
  responseCache: ResponseCache | null;
  /** Account API reads (usage pages) for a short TTL; null when cache.accountTtlMs is 0. */
  accountCache: TwoLevelCache<unknown> | null;
  /** Which user and channel created each stored Responses API object (GET/DELETE /v1/responses/{id}). */
  responseOwners: ResponseOwners;
}

export class Gateway implements GatewayParts {
  readonly config: Config;
  readonly keys: KeyCache;
  readonly clientAddress: ClientAddress;
  readonly health: HealthBook;
  routes: RouteTable;
  filters: FilterBook;
  readonly upstream: Agent;
  proxies: ProxyTable;
  readonly limiter: Limiter;
  readonly policies: PolicyBook;
  readonly prices: PriceBook;
  readonly gate: AdmissionGate;
  readonly writer: UsageQueue;
  readonly metrics: GatewayMetrics | null;
  readonly latency: LatencyStats;
  readonly requestLog: ((o: RequestOutcome) => void) | null;
  readonly tracer: RequestTracer | null;
  readonly countTokens: (text: string) => number;
  readonly onError: (err: unknown, ctx: RequestContext) => void;
  readonly storeHealth: StoreHealth;
  readonly onStoreError: (err: unknown) => void;
  readonly responseCache: ResponseCache | null;
  readonly accountCache: TwoLevelCache<unknown> | null;
  readonly responseOwners: ResponseOwners;
  /** Requests in progress, for graceful shutdown. */
  readonly active = new Set<RequestContext>();
  /** Set on SIGTERM: new requests get 503 and /readyz turns unready. */
  draining = false;

  constructor(parts: GatewayParts) {
    this.config = parts.config;
    this.keys = parts.keys;
    this.clientAddress = parts.clientAddress;
    this.health = parts.health;
    this.routes = parts.routes;
    this.filters = parts.filters;
    this.upstream = parts.upstream;
    this.proxies = parts.proxies;
    this.limiter = parts.limiter;
    this.policies = parts.policies;
    this.prices = parts.prices;
    this.gate = parts.gate;
    this.writer = parts.writer;
    this.metrics = parts.metrics;
    this.latency = parts.latency;
    this.requestLog = parts.requestLog;
    this.tracer = parts.tracer;
    this.countTokens = parts.countTokens;
    this.onError = parts.onError;
    this.storeHealth = parts.storeHealth;
    this.onStoreError = parts.onStoreError;
    this.responseCache = parts.responseCache;
    this.accountCache = parts.accountCache;
    this.responseOwners = parts.responseOwners;
  }
}
