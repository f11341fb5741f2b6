/**
 * Usage tap: meters the answer as it passes. A stream goes through the SSE
 * scanner (usage events, counted deltas, and the usage event the gateway
 * asked for on the client's behalf filtered out); a plain body keeps a
 * reference to its last two chunks, where the closing usage object is.
 * Results land on the request context at the end, or at an error (a cut
 * stream is still charged for what it produced).
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { SseScanner, type TokenCounter } from '../providers/sse-scanner.ts';
import type { Dialect } from '../providers/index.ts';
import type { RequestContext } from '../gateway/context.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';

type Controller = Dispatcher.DispatchController;

export class UsageTap extends ForwardingHandler {
  readonly #ctx: RequestContext;
  readonly #dialect: Dialect;
  readonly #countTokens: TokenCounter;
  #status = 0;
  /** Set for a streamed answer; null for a plain body. */
  #scanner: SseScanner | null = null;
  #previous: Buffer | null = null;
  #last: Buffer | null = null;

  constructor(ctx: RequestContext, dialect: Dialect, countTokens: TokenCounter, next: UpstreamHandler) {
    super(next);
    this.#ctx = ctx;
    this.#dialect = dialect;
    this.#countTokens = countTokens;
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const ctx = this.#ctx;
    this.#status = status;
    if (ctx.stream && status === 200) this.#scanner = new SseScanner(this.#dialect.streamEvents, !ctx.clientWantsStreamUsage, this.#countTokens);
    this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  /** Forwards every chunk, even one the scanner emptied: the first one still starts the client's response. */
  override onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#scanner !== null) {
      this.next.onResponseData(controller, this.#scanner.push(chunk));
      return;
    }
    this.#previous = this.#last;
    this.#last = chunk;
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
    if (scanner.usage !== null) {
      ctx.usageReported = true;
      ctx.promptTokens = scanner.usage.promptTokens;
      ctx.completionTokens = scanner.usage.completionTokens;
    } else ctx.completionTokens = scanner.countedCompletionTokens;
  }

  /** The usage object closes the body, so the last two chunks hold it. */
  #takeBodyUsage(): void {
    const last = this.#last;
    if (this.#status >= 300 || last === null) return;
    const usage = this.#dialect.bodyUsage(this.#previous === null ? last : Buffer.concat([this.#previous, last]));
    if (usage !== null) {
      const ctx = this.#ctx;
      ctx.usageReported = true;
      ctx.promptTokens = usage.promptTokens;
      ctx.completionTokens = usage.completionTokens;
    }
  }
}
