/**
 * autocannon as the load generator, when wrk is not installed, and for
 * count-bounded runs (--quick): autocannon can stop at an exact number of
 * requests, so upstream hits can be checked for equality. It runs inside the
 * harness process, which is pinned to the load cores.
 */
import { createRequire } from 'node:module';
import type { LoadRequest, LoadResult, LoadSpec } from './load-types.ts';

interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  onResponse?: (status: number) => void;
}

interface AutocannonResult {
  requests: { total: number; sent: number };
  latency: { p50: number; p99: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
}

type Autocannon = (
  options: Record<string, unknown>,
  callback: (error: Error | null, result: AutocannonResult) => void,
) => { stop(): void };

// autocannon is CommonJS without type declarations; the slice used here is typed above.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Runs autocannon for `spec.amount` requests, or for `spec.durationS` seconds. */
export async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const mixed = spec.sequence.some((request) => !request.upstreamBound);
  let upstreamResponses = 0;
  const countUpstream = (): void => {
    upstreamResponses += 1;
  };
  const requests = spec.sequence.map((request: LoadRequest): AutocannonRequest => {
    const entry: AutocannonRequest = { method: request.method, path: request.path, headers: request.headers };
    if (request.body !== null) entry.body = request.body;
    if (mixed && request.upstreamBound) entry.onResponse = countUpstream;
    return entry;
  });
  const connections = spec.amount === null ? spec.connections : Math.min(spec.connections, spec.amount);
  const options: Record<string, unknown> = {
    url: spec.url,
    connections,
    requests,
    timeout: spec.timeoutS,
    excludeErrorStats: false,
    // autocannon only notices the end of a run on a sample tick (default every
    // second), which would add up to a second of idle time to each run.
    sampleInt: 100,
  };
  if (spec.ratePerS !== undefined) options.overallRate = spec.ratePerS;
  if (spec.amount === null) options.duration = spec.durationS;
  else options.amount = spec.amount;
  const startedAt = performance.now();
  // A count-bounded run against a target that stopped answering would never
  // reach its count: stop it after a generous cap (the report shows the shortfall).
  const capMs = (spec.amount === null ? spec.durationS + 15 : 60) * 1000;
  let watchdog: NodeJS.Timeout | undefined;
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(options, (error, value) => (error === null || error === undefined ? resolve(value) : reject(error)));
    watchdog = setTimeout(() => instance.stop(), capMs);
  }).finally(() => clearTimeout(watchdog));
  const durationS = (performance.now() - startedAt) / 1000;
  const completed = result.requests.total;
  const completedUpstream = mixed ? upstreamResponses : completed;
  const inFlightAtStop = spec.amount === null ? connections : 0;
  return {
    tool: 'autocannon',
    requests: completed,
    durationS,
    requestsPerS: completed / durationS,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    // autocannon counts timeouts among errors already.
    errors: result.errors,
    non2xx: result.non2xx,
    expectedUpstreamHits: { min: completedUpstream, max: completedUpstream + inFlightAtStop },
  };
}
