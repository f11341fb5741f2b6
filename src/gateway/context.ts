/**
 * The state of one API request as it moves through the stages. The constructor
 * assigns every field (typed zero values) and nothing is added later, so every
 * context has one hidden class. It is also the RequestOutcome handed to metrics,
 * latency stats, the request log and the usage record — no copy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestOutcome } from '../observability/request-outcome.ts';
import { generateRequestId, isWellFormedRequestId } from '../observability/request-id.ts';
import type { Endpoint } from '../edge/endpoints.ts';
import type { ChannelRoute, ModelRoute, UpstreamKey } from '../routing/route-table.ts';
import type { RateLimitState } from '../limiter/limiter.ts';
import type { Grant } from './admission-gate.ts';
import type { Price } from '../metering/pricing.ts';
import { dialectFor, type Dialect } from '../providers/index.ts';
import type { CacheStatus } from '../cache/response-cache.ts';
import type { CachedAnswer } from '../cache/cached-answer.ts';
import type { Flight } from '../cache/single-flight.ts';
import type { AnswerCapture } from '../upstream/capture-answer.ts';

/** The upstream attempt in flight, as the request sees it: it can stop it, or unpause its reading. */
export interface Cancellable {
  cancel(reason: Error): void;
  resumeReading(): void;
}

export class RequestContext implements RequestOutcome {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly endpoint: Endpoint;
  /** The endpoint protocol's dialect: how the upstream is asked and answers (channels serve it natively). */
  readonly dialect: Dialect;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** Date.now() at arrival, for records. */
  readonly ts: number;

  /** Unique per request, the usage record's key: a client's x-request-id may repeat, so it gets a unique suffix. */
  readonly recordId: string;

  // RequestOutcome
  /** The client's x-request-id when well-formed, else recordId. */
  requestId: string;
  route: string;
  model = '';
  channel = '';
  status = 0;
  outcome: RequestOutcome['outcome'] = 'ok';
  stream = false;
  latencyMs = 0;
  upstreamMs = 0;
  ttftMs = -1;
  promptTokens = 0;
  completionTokens = 0;
  /** Parts of promptTokens read from / written to the prompt cache, and of completionTokens spent reasoning (as reported). */
  cachedTokens = 0;
  cacheWriteTokens = 0;
  reasoningTokens = 0;
  costMicros = 0;
  attempts = 0;
  errorClass: string | null = null;
  userId = 0;
  keyId = 0;
  /** From the key cache entry, for messages. */
  userName = '';
  keyName = '';
  /** The models the key may use, from its cache entry; null: any. */
  allowedModels: ReadonlySet<string> | null = null;
  /** The key opted its requests into the response cache (from its cache entry). */
  keyCachesAnswers = false;

  // Request
  body: Buffer | null = null;
  /** The parsed request body; only plain JSON objects get this far. */
  json: Record<string, any> | null = null;
  modelRoute: ModelRoute | null = null;
  /** Tokens reserved against TPM limits and credits before relaying (an upper bound of the prompt plus the completion bound). */
  estimatedTokens = 0;
  /** True when the client asked for usage in its stream; else the gateway asks and filters it out. */
  clientWantsStreamUsage = false;
  /** The admission gate's proof of admission (limits and credit hold); null when not admitted or nothing applied. */
  grant: Grant | null = null;
  rateLimit: RateLimitState | null = null;
  price: Price | null = null;

  // Response cache (src/gateway/cache-stage.ts); all null when the request does not use it.
  /** The entry key, when the request may be served from or fill the cache. */
  cacheKey: string | null = null;
  /** The x-tollgate-cache-status header; null: none sent (the cache is off). */
  cacheStatus: CacheStatus | null = null;
  /** The answer's chunks as they go to the client, to store once complete. */
  cacheCapture: AnswerCapture | null = null;
  /** Held by the first of identical concurrent misses: the others wait for what it stores. */
  cacheFlight: Flight<CachedAnswer> | null = null;
  /** The channel of the stored answer a hit replayed, for its price; null otherwise. */
  cachedChannelId: number | null = null;

  // Relay
  upstreamChannel: ChannelRoute | null = null;
  upstreamKey: UpstreamKey | null = null;
  /** Set once the first response byte went to the client: from then on, never retried. */
  committed = false;
  clientGone = false;
  finished = false;
  /** Upstream-reported usage seen (vs counted by the gateway). */
  usageReported = false;
  /** The id of the Responses API object a native POST /v1/responses created upstream; null otherwise. */
  responseId: string | null = null;
  /** Why the request is being cut, once it is: the client left, or shutdown reached its deadline. */
  cancelled: 'client' | 'shutdown' | null = null;
  /** The upstream attempt in progress, so a cancel can stop it. */
  attempt: Cancellable | null = null;
  /** performance.now() after authentication and after admission; set only when tracing (0 otherwise). */
  authenticatedAt = 0;
  admittedAt = 0;
  /** performance.now() when the upstream answered the final attempt's headers; 0 before. */
  upstreamHeadersAt = 0;
  /** performance.now() when the first upstream attempt started; 0 before. */
  upstreamStartedAt = 0;

  constructor(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, startedAt: number) {
    const generated = generateRequestId();
    const clientId = req.headers['x-request-id'];
    const fromClient = typeof clientId === 'string' && isWellFormedRequestId(clientId);
    this.requestId = fromClient ? clientId : generated;
    this.recordId = fromClient ? `${clientId}~${generated}` : generated;
    this.req = req;
    this.res = res;
    this.endpoint = endpoint;
    this.dialect = dialectFor(endpoint.protocol);
    this.startedAt = startedAt;
    this.ts = Date.now();
    this.route = endpoint.route;
  }

  /** Stops the request's upstream work: the client left, or shutdown reached its deadline. */
  cancel(reason: 'client' | 'shutdown'): void {
    if (this.cancelled !== null) return;
    this.cancelled = reason;
    this.attempt?.cancel(new Error(reason === 'client' ? 'client closed the request' : 'shutdown deadline reached'));
  }
}
