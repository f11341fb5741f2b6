/**
 * The objects one mock request lives in: per-server state, and request/response
 * subclasses (installed through createServer's IncomingMessage/ServerResponse
 * options) that carry the answer's progress. Keeping that state on the response
 * lets every lifecycle step be a module-level function taking `res`, so the mock
 * creates no closures per request on its normal path.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { FaultSlot } from './mock-faults.ts';
import { StoredResponses } from './mock-stored.ts';

/** The last request the mock received, as parsed. */
export interface MockRequestRecord {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** Counters since start or the last resetStats(). */
export interface MockUpstreamStats {
  requests: number;
  byPath: Record<string, number>;
  /** Requests whose client closed the connection before the response finished. */
  aborted: number;
  lastRequest: MockRequestRecord | null;
}

/** Upper bound of the `chunks` option and of `x-mock-chunks`. */
export const MAX_STREAM_CHUNKS = 4096;

/** Per-server configuration and counters, shared by every request of that server. */
export class UpstreamState {
  readonly stats: MockUpstreamStats = { requests: 0, byPath: {}, aborted: 0, lastRequest: null };
  readonly faults = new FaultSlot();
  /** The Responses API objects this server created, for GET/DELETE /v1/responses/{id}. */
  readonly responses = new StoredResponses();
  /** x-mock-* usage switches applied to every request (setUsage), for callers that cannot send headers. */
  usageHeaders: Record<string, string> | null = null;
  readonly chunks: number;
  readonly chunkDelayMs: number;
  readonly latencyMs: number;

  constructor(chunks: number, chunkDelayMs: number, latencyMs: number) {
    this.chunks = chunks;
    this.chunkDelayMs = chunkDelayMs;
    this.latencyMs = latencyMs;
  }
}

/** Incoming request with what the body reader needs. */
export class MockRequest extends IncomingMessage {
  upstream: UpstreamState | null = null;
  exchange: MockResponse | null = null;
  /** URL path without the query string. */
  route = '';
  bodyParts: Buffer[] = [];
  bodySize = 0;
}

/** Response with the state of an answer in progress: parsed request, fault, stream position. */
export class MockResponse extends ServerResponse<MockRequest> {
  upstream: UpstreamState | null = null;
  /** Parsed body: null when empty, undefined when it was not valid JSON. */
  requestBody: unknown = null;
  tooLarge = false;
  /** Status a `status` fault answers with; 0 for none. */
  faultStatus = 0;
  /** Content frames to write before destroying the socket; -1 for no reset. */
  resetAfter = -1;
  /** Set when the mock destroyed the socket itself, which is not a client abort. */
  resetByMock = false;
  timer: NodeJS.Timeout | null = null;
  /** Stored content frames of the stream being written. */
  frames: readonly string[] = [];
  /** Per-request text written before each stored frame. */
  framePrefix = '';
  /** Everything after the content frames, written with the last one. */
  closing = '';
  nextFrame = 0;
  delayMs = 0;
}

/** Headers of every SSE response (chunked transfer, as real providers stream); never mutated. */
export const SSE_HEADERS: string[] = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache'];

/** Answers with a complete JSON body. */
export function sendJson(res: MockResponse, status: number, body: string): void {
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))]);
  res.end(body);
}

/** Destroys the connection, as a crashed upstream or a middlebox reset would. */
export function resetConnection(res: MockResponse): void {
  res.resetByMock = true;
  res.req.socket.destroy();
}

/** Writes `data`, then resets the connection once those bytes reached the socket. */
export function writeThenReset(res: MockResponse, data: string): void {
  // A closure, but only on the fault path: destroying before the write callback
  // would drop the bytes the client is meant to receive first.
  res.write(data, () => resetConnection(res));
}
