/**
 * One attempt against one upstream, as an undici dispatch handler: the
 * response arrives as callbacks (start, data, end, error) and each chunk is
 * written straight to the client — no Readable, no async iterator, no promise
 * per chunk. This is the gateway's own relay loop, written by hand because it
 * is the product's hot path: it is what the bare-Node baseline does with
 * `pool.stream()`, plus usage scanning, failover and backpressure.
 *
 * The response head goes to the client with the first body byte, so an
 * upstream that fails after its headers but before any body is still retried.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { Errors, type ErrorSpec } from '../errors.ts';
import { SseScanner } from '../providers/sse-scanner.ts';
import { MAX_ERROR_BODY } from '../providers/error-body.ts';
import type { ChannelRoute } from '../routing/route-table.ts';
import { writeResponseHead } from './response-head.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

/** Why an attempt did not deliver an answer. */
export interface Failure { readonly error: ErrorSpec; readonly status: number; readonly message: string; readonly errorClass: string }

/** What the attempt does with the response body. */
const Mode = { Pending: 0, ErrorBody: 1, Stream: 2, Body: 3 } as const;

export class UpstreamExchange implements Dispatcher.DispatchHandler {
  readonly #gw: Gateway;
  readonly #ctx: RequestContext;
  readonly #channel: ChannelRoute;
  readonly #done: PromiseWithResolvers<Failure | null>;
  #controller: Dispatcher.DispatchController | null = null;
  #mode: number = Mode.Pending;
  #status = 0;
  #contentType = '';
  #contentLength = -1;
  #errorText = '';
  #scanner: SseScanner | null = null;
  #previous: Buffer | null = null;
  #last: Buffer | null = null;
  #resume: (() => void) | null = null;

  constructor(gw: Gateway, ctx: RequestContext, channel: ChannelRoute) {
    this.#gw = gw;
    this.#ctx = ctx;
    this.#channel = channel;
    this.#done = Promise.withResolvers();
  }

  /** Resolves when the attempt is over: null when the answer was delivered. */
  get done(): Promise<Failure | null> {
    return this.#done.promise;
  }

  /** Stops the upstream request (client gone, shutdown deadline). */
  cancel(reason: Error): void {
    if (this.#controller !== null && !this.#controller.aborted) this.#controller.abort(reason);
  }

  /** Reads on after the client left (drain mode): nobody will send the 'drain' a paused read waits for. */
  resumeReading(): void {
    if (this.#controller !== null && this.#controller.paused) this.#controller.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#ctx.cancelled !== null) controller.abort(new Error(this.#ctx.cancelled));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    const ctx = this.#ctx;
    ctx.upstreamHeadersAt = performance.now();
    this.#status = status;
    if (status === 429 || status === 401 || status === 403 || status >= 500) {
      this.#mode = Mode.ErrorBody;
      return;
    }
    ctx.status = status;
    if (status >= 400) ctx.outcome = 'upstream_error';
    const type = headers['content-type'];
    if (ctx.stream && status === 200) {
      this.#mode = Mode.Stream;
      this.#contentType = typeof type === 'string' ? type : 'text/event-stream';
      this.#scanner = new SseScanner(ctx.dialect.streamEvents, !ctx.clientWantsStreamUsage, this.#gw.countTokens);
    } else {
      this.#mode = Mode.Body;
      this.#contentType = typeof type === 'string' ? type : 'application/json';
      const length = headers['content-length'];
      this.#contentLength = typeof length === 'string' ? Number(length) : -1;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const ctx = this.#ctx;
    if (this.#mode === Mode.ErrorBody) {
      if (this.#errorText.length < MAX_ERROR_BODY) this.#errorText += chunk.toString('utf8', 0, Math.min(chunk.length, MAX_ERROR_BODY));
      return;
    }
    let out = chunk;
    if (this.#mode === Mode.Stream) out = this.#scanner!.push(chunk);
    else {
      this.#previous = this.#last;
      this.#last = chunk;
    }
    if (!ctx.committed) {
      writeResponseHead(ctx, ctx.status, this.#contentType, this.#contentLength);
      if (this.#mode === Mode.Stream) ctx.ttftMs = performance.now() - ctx.startedAt;
    }
    if (ctx.clientGone) return; // drain mode: keep reading for the final usage
    if (out.length > 0 && !ctx.res.write(out)) {
      // Backpressure: stop reading the upstream until the client catches up.
      controller.pause();
      this.#resume ??= () => controller.resume();
      ctx.res.once('drain', this.#resume);
    }
  }

  onResponseEnd(): void {
    const ctx = this.#ctx;
    if (this.#mode === Mode.ErrorBody) return this.#done.resolve(this.#upstreamErrorStatus());
    if (this.#mode === Mode.Stream) {
      const rest = this.#scanner!.end();
      if (!ctx.committed) writeResponseHead(ctx, ctx.status, this.#contentType, -1);
      if (rest !== null && rest.length > 0 && !ctx.clientGone) ctx.res.write(rest);
      this.#takeStreamUsage();
    } else {
      if (!ctx.committed) writeResponseHead(ctx, ctx.status, this.#contentType, this.#contentLength);
      this.#takeBodyUsage();
    }
    if (!ctx.clientGone) ctx.res.end();
    this.#done.resolve(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const ctx = this.#ctx;
    const gw = this.#gw;
    if (this.#scanner !== null) this.#takeStreamUsage();
    if (ctx.clientGone) return this.#done.resolve({ error: Errors.upstreamError, status: 499, message: 'client closed the request', errorClass: 'client_abort' });
    const failure = connectFailure(this.#channel, err);
    if (ctx.committed) {
      // Cut after the first byte: the client already has its status; end what it has.
      ctx.outcome = ctx.cancelled === 'shutdown' ? 'shutdown_cut' : 'upstream_error';
      ctx.res.end();
    } else if (ctx.cancelled === null) {
      // The upstream failed (not our own shutdown): take the channel out of rotation for a while.
      gw.health.fail(this.#channel.health, Date.now());
      gw.metrics?.cooldown(this.#channel.name);
    }
    this.#done.resolve(failure);
  }

  /** An upstream 401/403/429/5xx: cool the key (auth, rate) or the channel (5xx) and report it. */
  #upstreamErrorStatus(): Failure {
    const status = this.#status;
    const gw = this.#gw;
    const ctx = this.#ctx;
    gw.health.fail(status >= 500 ? this.#channel.health : ctx.upstreamKey!.health, Date.now());
    gw.metrics?.cooldown(this.#channel.name);
    return {
      error: status === 429 ? Errors.rateLimited : Errors.upstreamError,
      status: status === 429 ? 429 : 502,
      message: `Upstream channel '${this.#channel.name}' answered ${status}: ${ctx.dialect.errorMessage(this.#errorText)}`,
      errorClass: status === 429 ? 'upstream_429' : status >= 500 ? 'upstream_5xx' : 'upstream_auth',
    };
  }

  #takeStreamUsage(): void {
    const ctx = this.#ctx;
    const scanner = this.#scanner!;
    if (scanner.usage !== null) {
      ctx.usageReported = true;
      ctx.promptTokens = scanner.usage.promptTokens;
      ctx.completionTokens = scanner.usage.completionTokens;
    } else ctx.completionTokens = scanner.countedCompletionTokens;
  }

  /** The usage object closes an OpenAI body, so the last two chunks hold it. */
  #takeBodyUsage(): void {
    const ctx = this.#ctx;
    const last = this.#last;
    if (ctx.status >= 300 || last === null) return;
    const usage = ctx.dialect.bodyUsage(this.#previous === null ? last : Buffer.concat([this.#previous, last]));
    if (usage !== null) {
      ctx.usageReported = true;
      ctx.promptTokens = usage.promptTokens;
      ctx.completionTokens = usage.completionTokens;
    }
  }
}

export function connectFailure(channel: ChannelRoute, err: unknown): Failure {
  const code = (err as { code?: string }).code ?? (err as Error).name ?? 'ERROR';
  const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
  return {
    error: timeout ? Errors.upstreamTimeout : Errors.upstreamError,
    status: timeout ? 504 : 502,
    message: `Upstream channel '${channel.name}' failed: ${timeout ? 'timed out' : (err as Error).message ?? code}`,
    errorClass: timeout ? 'timeout' : code,
  };
}
