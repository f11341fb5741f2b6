/**
 * The one record the hot path hands to observability per request.
 *
 * The request handler fills it from its request context once the response is
 * finished (or aborted) and passes the same object to `GatewayMetrics.recordRequest`,
 * `LatencyStats.record` and `logRequest`. Nothing here holds a secret: ids only.
 */

/** Routes with their own label value; anything else is reported as `other`. */
export const ROUTES = ['chat', 'completions', 'embeddings', 'messages', 'models', 'proxy', 'service', 'admin', 'other'] as const;

/**
 * How a request ended: exactly the values the gateway sets, so a switch over
 * an Outcome is checked for completeness. A refusal for limits or credits is
 * `refused` (the status tells 429 from 402).
 */
export const OUTCOMES = [
  'ok',
  /** The upstream failed (connect error, 5xx, reset) or answered with an error status. */
  'upstream_error',
  /** Cut by shutdown reaching its deadline mid-stream; metered for what was sent. */
  'shutdown_cut',
  /** Answered from the response cache: no upstream call; priced by cache.hitPricePermille. */
  'cache_hit',
  'refused',
  'unauthorized',
  'client_abort',
  'bad_request',
  'not_found',
  'internal_error',
] as const;

/** One of OUTCOMES. */
export type Outcome = (typeof OUTCOMES)[number];

/** Everything observability needs to know about one finished request. */
export interface RequestOutcome {
  /** The x-request-id echoed to the client (see request-id.ts). */
  requestId: string;
  /** 'chat' | 'completions' | 'embeddings' | 'messages' | 'models' | other small fixed set (see ROUTES). */
  route: string;
  /** Model name as resolved (not as typed by the client when aliased); '' if none. */
  model: string;
  /** Channel name that served the final attempt, or '' if none was picked. */
  channel: string;
  /** HTTP status sent to the client. */
  status: number;
  outcome: Outcome;
  /** True when the response was streamed (SSE). */
  stream: boolean;
  /** Wall time from request arrival to the last byte sent, in milliseconds. */
  latencyMs: number;
  /** Time spent waiting on the upstream (connect to last byte, all attempts), in milliseconds; 0 if none. */
  upstreamMs: number;
  /** Time to the first streamed byte sent to the client, in milliseconds; -1 if none. */
  ttftMs: number;
  promptTokens: number;
  completionTokens: number;
  /** Credits charged, integer micro-credits. */
  costMicros: number;
  /** Upstream attempts made (0 when refused before the relay, >1 after failover). */
  attempts: number;
  /** Short error class such as 'ECONNRESET' or 'upstream_5xx'; null when none. Bounded by the caller. */
  errorClass: string | null;
  /** Internal numeric ids: logged, never used as metric labels. 0 when unauthenticated. */
  userId: number;
  keyId: number;
}

/**
 * A RequestOutcome with every field at its typed zero value, so every instance
 * has the same hidden class whichever fields the request gets to fill.
 */
export function emptyRequestOutcome(): RequestOutcome {
  return {
    requestId: '',
    route: 'other',
    model: '',
    channel: '',
    status: 0,
    outcome: 'ok',
    stream: false,
    latencyMs: 0,
    upstreamMs: 0,
    ttftMs: -1,
    promptTokens: 0,
    completionTokens: 0,
    costMicros: 0,
    attempts: 0,
    errorClass: null,
    userId: 0,
    keyId: 0,
  };
}

/**
 * The gateway's own share of the request time: total minus time spent waiting
 * on the upstream, never negative (clock reads are taken at different points).
 */
export function overheadMs(o: RequestOutcome): number {
  const d = o.latencyMs - o.upstreamMs;
  return d > 0 ? d : 0;
}
