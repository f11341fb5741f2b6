/**
 * Mock upstream provider: a plain node:http server speaking the OpenAI API (chat,
 * completions, embeddings, models, and /v1/responses) and Anthropic's /v1/messages
 * with deterministic content, for tests and as the upstream of throughput benchmarks.
 *
 * Features (mock-answer.ts), in all three generation protocols: when tools are given
 * it calls the named or first tool with arguments valid for its schema (text instead
 * once the conversation ends with a tool result); under a json_schema output format it
 * answers the minimal JSON valid for the schema; it cuts the text at stop sequences;
 * request headers x-mock-cached-tokens / x-mock-cache-write-tokens / x-mock-reasoning-tokens
 * make it report that many cached-read, cache-write (parts of the input) and reasoning
 * (added to the output) tokens.
 *
 * It has to stay cheaper than the gateway it measures, so responses come from
 * cached plans (mock-plans.ts) and the request lifecycle is module-level handlers
 * with state on subclassed request/response objects (mock-exchange.ts): on the
 * normal path no closures, timers or large buffers are created per request.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_STREAM_CHUNKS, MockRequest, MockResponse, resetConnection, UpstreamState, type MockUpstreamStats } from './mock-exchange.ts';
import { faultFromApiKey, parseFaultHeader, type MockFault } from './mock-faults.ts';
import { respond } from './mock-routes.ts';
import { tokenizer } from '../metering/tokenizer.ts';

export type { MockFault } from './mock-faults.ts';
export type { MockRequestRecord, MockUpstreamStats } from './mock-exchange.ts';

/** Start-up options; every field has a default. */
export interface MockUpstreamOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Port; default 0 (any free port). */
  port?: number;
  /** Content chunks per SSE stream; default 8. */
  chunks?: number;
  /** Pause between content chunks; default 0. */
  chunkDelayMs?: number;
  /** Pause before the response headers; default 0. */
  latencyMs?: number;
}

/** A running mock upstream. */
export interface MockUpstream {
  /** Base URL without trailing slash, e.g. http://127.0.0.1:43123; the OpenAI base is `${url}/v1`. */
  url: string;
  port: number;
  /** Live counters (the same object for the server's lifetime). */
  stats: MockUpstreamStats;
  /** Applies a fault to the next `fault.count` requests, or until cleared when it has no count. */
  setFault(fault: MockFault | null): void;
  /**
   * Makes every answer report these usage kinds (as the x-mock-cached-tokens,
   * x-mock-cache-write-tokens and x-mock-reasoning-tokens headers would); null clears.
   */
  setUsage(usage: { cached?: number; cacheWrite?: number; reasoning?: number } | null): void;
  resetStats(): void;
  /** Stops listening and destroys every open connection, hung ones included. */
  close(): Promise<void>;
}

/** Longest request body read; larger ones get 413. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
// Longer than the 60 s idle timeouts common in benchmark clients and proxies, so the
// client side closes idle connections first and never races a server-side close.
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Starts a mock upstream and resolves once it is listening. */
export async function startMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const chunks = opts.chunks ?? 8;
  const chunkDelayMs = opts.chunkDelayMs ?? 0;
  const latencyMs = opts.latencyMs ?? 0;
  if (!(Number.isInteger(chunks) && chunks >= 1 && chunks <= MAX_STREAM_CHUNKS)) {
    throw new RangeError(`chunks must be an integer in 1..${MAX_STREAM_CHUNKS}`);
  }
  if (!(chunkDelayMs >= 0)) throw new RangeError('chunkDelayMs must be a non-negative number');
  if (!(latencyMs >= 0)) throw new RangeError('latencyMs must be a non-negative number');

  // The mock counts every answer's tokens exactly: load the tokenizer now, not on the first answer,
  // where its ~100–300 ms load would stall whatever shares this event loop (the gateway, with the
  // built-in mock channel: its Redis calls time out and its first-token timers fire).
  tokenizer();
  const state = new UpstreamState(chunks, chunkDelayMs, latencyMs);
  const server = createServer<typeof MockRequest, typeof MockResponse>(
    { IncomingMessage: MockRequest, ServerResponse: MockResponse, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS },
    (req, res) => onRequest(state, req, res),
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    stats: state.stats,
    setFault(fault: MockFault | null): void {
      state.faults.set(fault);
    },
    setUsage(usage): void {
      state.usageHeaders = usage === null ? null : {
        'x-mock-cached-tokens': String(usage.cached ?? 0),
        'x-mock-cache-write-tokens': String(usage.cacheWrite ?? 0),
        'x-mock-reasoning-tokens': String(usage.reasoning ?? 0),
      };
    },
    resetStats(): void {
      const stats = state.stats;
      stats.requests = 0;
      stats.byPath = {};
      stats.aborted = 0;
      stats.lastRequest = null;
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function onRequest(state: UpstreamState, req: MockRequest, res: MockResponse): void {
  const stats = state.stats;
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  stats.requests++;
  stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
  req.upstream = state;
  req.exchange = res;
  req.route = path;
  res.upstream = state;
  res.once('close', onResponseClose);
  req.on('data', onRequestData);
  req.once('end', onRequestEnd);
}

function onRequestData(this: MockRequest, chunk: Buffer): void {
  this.bodySize += chunk.length;
  // Past the limit the rest is drained and dropped; the answer is a 413.
  if (this.bodySize <= MAX_BODY_BYTES) this.bodyParts.push(chunk);
  else this.bodyParts.length = 0;
}

function onRequestEnd(this: MockRequest): void {
  const req = this;
  const res = req.exchange!;
  const state = req.upstream!;
  if (req.bodySize > MAX_BODY_BYTES) {
    res.tooLarge = true;
  } else if (req.bodySize > 0) {
    const parts = req.bodyParts;
    const text = (parts.length === 1 ? parts[0] : Buffer.concat(parts, req.bodySize)).toString('utf8');
    req.bodyParts = [];
    try {
      res.requestBody = JSON.parse(text);
    } catch {
      res.requestBody = undefined;
    }
  }
  // Recorded before any fault applies, so tests can inspect what a failing upstream was sent.
  state.stats.lastRequest = { path: req.route, headers: req.headers, body: res.requestBody ?? null };

  const fault = pickFault(req, state);
  let delay = state.latencyMs;
  if (fault !== null) {
    switch (fault.kind) {
      case 'status':
        res.faultStatus = fault.status;
        break;
      case 'reset':
        resetConnection(res);
        return;
      case 'hang':
        return;
      case 'latency':
        delay += fault.ms;
        break;
      case 'reset-mid-stream':
        res.resetAfter = fault.afterChunks;
        break;
    }
  }
  if (delay > 0) res.timer = setTimeout(respond, delay, res);
  else respond(res);
}

/**
 * The fault for this request: the `x-mock-fault` header, else a marker in the API
 * key, else the server-wide slot (only then is a counted fault used up). An
 * unparseable header becomes a 400 so that a typo in a test does not go unnoticed.
 */
function pickFault(req: MockRequest, state: UpstreamState): MockFault | null {
  const headers = req.headers;
  const header = headers['x-mock-fault'];
  if (typeof header === 'string') return parseFaultHeader(header) ?? { kind: 'status', status: 400 };
  const authorization = headers.authorization;
  const keyFault = typeof authorization === 'string' ? faultFromApiKey(authorization) : null;
  if (keyFault !== null) return keyFault;
  const apiKey = headers['x-api-key'];
  const apiKeyFault = typeof apiKey === 'string' ? faultFromApiKey(apiKey) : null;
  return apiKeyFault ?? state.faults.take();
}

function onResponseClose(this: MockResponse): void {
  if (this.timer !== null) {
    clearTimeout(this.timer);
    this.timer = null;
  }
  if (!this.writableFinished && !this.resetByMock) this.upstream!.stats.aborted++;
}
