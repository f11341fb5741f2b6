/** What every load generator is given and gives back, so runs compare across tools. */

/** One request of a load sequence. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string | null;
  /** Whether this request is relayed to the upstream (counted against upstream hits). */
  upstreamBound: boolean;
}

/** A load run: a request sequence cycled over keep-alive connections, bounded by time or count. */
export interface LoadSpec {
  /** Base URL of the target, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The sequence each connection cycles through (one entry for a plain run). */
  sequence: LoadRequest[];
  connections: number;
  /** Run length in seconds; ignored when `amount` is set. */
  durationS: number;
  /** Exact number of requests to complete (count-bounded runs, used by --quick). */
  amount: number | null;
  /** Per-request timeout in seconds. */
  timeoutS: number;
  /** Requests per second over all connections (a fixed-rate run, autocannon only); absent: as fast as the target answers. */
  ratePerS?: number;
}

/** The outcome of a load run. */
export interface LoadResult {
  tool: 'wrk' | 'autocannon';
  /** Responses received (any status). */
  requests: number;
  durationS: number;
  requestsPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Connection errors, resets and timeouts. */
  errors: number;
  /** Responses whose status was not 2xx (wrk: status >= 400). */
  non2xx: number;
  /**
   * Bounds on the upstream hits this run should cause: exact (min === max)
   * for count-bounded runs; for time-bounded wrk runs, requests still in
   * flight when the clock stops may or may not have reached the upstream.
   */
  expectedUpstreamHits: { min: number; max: number };
}
