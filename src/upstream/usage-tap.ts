/**
 * Usage tap: meters the answer as it passes. A stream goes through the SSE
 * scanner (usage events, counted deltas, error events, and the usage event the
 * gateway asked for on the client's behalf filtered out); a plain body keeps
 * references to its chunks (up to MAX_BODY_KEPT) so its usage object is found
 * wherever it stands, and its text counted when it has none.
 * Results land on the request context at the end, or at an error (a cut
 * stream is still charged for what it produced).
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { SseScanner, type TokenCounter } from '../providers/sse-scanner.ts';
import type { Dialect } from '../providers/index.ts';
import type { TokenUsage } from '../providers/token-usage.ts';
import type { RequestContext } from '../gateway/context.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';
import { bodyResponseId, StreamResponseId } from './response-id.ts';

type Controller = Dispatcher.DispatchController;

/**
 * Most of a plain body kept for metering. Chat answers are a few KB; above
 * this (large embeddings) only the tail is searched for the usage object.
 */
const MAX_BODY_KEPT = 4 * 1024 * 1024;

export class UsageTap extends ForwardingHandler {
  readonly #ctx: RequestContext;
  readonly #dialect: Dialect;
  readonly #countTokens: TokenCounter;
  #status = 0;
  /** Set for a streamed answer; null for a plain body. */
  #scanner: SseScanner | null = null;
  #chunks: Buffer[] = [];
  #kept = 0;
  /** The two latest chunks, for the tail search once a body outgrows MAX_BODY_KEPT. */
  #previous: Buffer | null = null;
  #last: Buffer | null = null;

  readonly #keySecret: string;
  readonly #hideUsageEvent: boolean;
  /** Read the id of the Responses API object created (a native POST /v1/responses); see response-id.ts. */
  readonly #captureResponseId: boolean;
  #streamId: StreamResponseId | null = null;

  /**
   * `keySecret`: the key sent upstream, scrubbed from error events in a stream (see providers/scrub-secrets.ts).
   * `hideUsageEvent`: drop the usage event the gateway asked for on behalf of a client that did not.
   * `captureResponseId`: set ctx.responseId from the answer (a native Responses API answer).
   */
  constructor(ctx: RequestContext, dialect: Dialect, countTokens: TokenCounter, keySecret: string, hideUsageEvent: boolean, captureResponseId: boolean, next: UpstreamHandler) {
    super(next);
    this.#ctx = ctx;
    this.#dialect = dialect;
    this.#countTokens = countTokens;
    this.#keySecret = keySecret;
    this.#hideUsageEvent = hideUsageEvent;
    this.#captureResponseId = captureResponseId;
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const ctx = this.#ctx;
    this.#status = status;
    if (ctx.stream && status === 200) this.#scanner = new SseScanner(this.#dialect.streamEvents, this.#hideUsageEvent, this.#countTokens, this.#keySecret);
    if (this.#captureResponseId) {
      ctx.responseId = null; // an earlier attempt's id is not this answer's
      if (this.#scanner !== null) this.#streamId = new StreamResponseId();
    }
    this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  /** Forwards every chunk, even one the scanner emptied: the first one still starts the client's response. */
  override onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#scanner !== null) {
      const streamId = this.#streamId;
      if (streamId !== null && streamId.wanted) {
        streamId.push(chunk);
        if (!streamId.wanted) this.#ctx.responseId = streamId.id;
      }
      this.next.onResponseData(controller, this.#scanner.push(chunk));
      return;
    }
    this.#previous = this.#last;
    this.#last = chunk;
    if (this.#kept <= MAX_BODY_KEPT) {
      this.#chunks.push(chunk);
      this.#kept += chunk.length;
    }
    this.next.onResponseData(controller, chunk);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    const scanner = this.#scanner;
    if (scanner !== null) {
      const rest = scanner.end();
      this.#takeStreamUsage(scanner);
      if (rest !== null && rest.length > 0) this.next.onResponseData(controller, rest);
    } else this.#takeBodyUsage();
    this.next.onResponseEnd(controller, trailers);
  }

  override onResponseError(controller: Controller, err: Error): void {
    if (this.#scanner !== null) this.#takeStreamUsage(this.#scanner);
    this.next.onResponseError(controller, err);
  }

  #takeStreamUsage(scanner: SseScanner): void {
    const ctx = this.#ctx;
    if (scanner.errorSeen) ctx.errorClass = 'stream_error';
    else if (scanner.usageInvalid) ctx.errorClass = 'usage_invalid';
    const usage = scanner.usage;
    if (usage !== null && !scanner.usageInvalid) {
      // A count the upstream left null is the gateway's own: the prompt estimate, the counted deltas.
      ctx.usageReported = usage.promptReported;
      ctx.promptTokens = usage.promptTokens;
      ctx.completionTokens = usage.completionReported || usage.completionTokens > 0 ? usage.completionTokens : scanner.countedCompletionTokens;
      takeKinds(ctx, usage);
    } else ctx.completionTokens = scanner.countedCompletionTokens;
  }

  /** The body's usage object wherever it is; without one, its completion text counted. */
  #takeBodyUsage(): void {
    const last = this.#last;
    if (this.#status >= 300 || last === null) return;
    const ctx = this.#ctx;
    const whole = this.#kept <= MAX_BODY_KEPT;
    const body = whole ? (this.#chunks.length === 1 ? last : Buffer.concat(this.#chunks, this.#kept)) : this.#previous === null ? last : Buffer.concat([this.#previous, last]);
    this.#chunks = [];
    // Past MAX_BODY_KEPT only the tail is here, and the id leads the object.
    if (this.#captureResponseId && this.#status === 200 && whole) ctx.responseId = bodyResponseId(body);
    const usage = this.#dialect.bodyUsage(body);
    if (usage !== null && !usage.invalid) {
      // A count the upstream left null is the gateway's own: the prompt estimate, the answer's text.
      ctx.usageReported = usage.promptReported;
      ctx.promptTokens = usage.promptTokens;
      ctx.completionTokens = usage.completionReported ? usage.completionTokens : whole ? countAnswerText(body, this.#countTokens) : 0;
      takeKinds(ctx, usage);
      return;
    }
    if (usage !== null) ctx.errorClass = 'usage_invalid';
    if (whole) ctx.completionTokens = countAnswerText(body, this.#countTokens);
  }
}

/** The priced kinds of a reported usage: cached and cache-written prompt tokens, reasoning tokens. */
function takeKinds(ctx: RequestContext, usage: TokenUsage): void {
  ctx.cachedTokens = usage.cachedTokens;
  ctx.cacheWriteTokens = usage.cacheWriteTokens;
  ctx.reasoningTokens = Math.min(usage.reasoningTokens, ctx.completionTokens);
}

/** Tokens of the generated text of a JSON answer (chat, completions, Anthropic, Responses); 0 when unparsable. */
function countAnswerText(body: Buffer, countTokens: TokenCounter): number {
  let answer: any;
  try {
    answer = JSON.parse(body.toString('utf8'));
  } catch {
    return 0;
  }
  let n = 0;
  const add = (text: unknown) => {
    if (typeof text === 'string' && text.length > 0) n += countTokens(text);
  };
  if (Array.isArray(answer?.choices)) for (const c of answer.choices) add(c?.message?.content ?? c?.text);
  if (Array.isArray(answer?.content)) for (const part of answer.content) add(part?.text);
  if (Array.isArray(answer?.output)) for (const item of answer.output) if (Array.isArray(item?.content)) for (const part of item.content) add(part?.text);
  return n;
}
