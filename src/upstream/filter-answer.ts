/**
 * Filter answer: the operator's response filters (src/filters/) applied to a
 * 200 answer in the client's protocol, after translation and before the client.
 * Only constructed when rules are in scope for the request, so an unfiltered
 * answer's bytes pass untouched. A stream is rewritten event by event (holding
 * back at most the longest rule's length of text); a body is collected, filtered
 * whole and sent with its new length. Metering saw the upstream's bytes before
 * this handler: billing is on what the upstream produced.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../gateway/context.ts';
import { SseDecoder, type SseEventTarget } from '../providers/translate/sse-frame.ts';
import { filterBody, streamRewriter, type StreamRewriter } from '../filters/answer-filter.ts';
import type { TextFilter } from '../filters/text-filter.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';

type Controller = Dispatcher.DispatchController;

/** Most of a non-streamed answer collected for filtering; a larger one passes unfiltered (and is counted). */
const MAX_FILTERED_BODY = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export class FilterAnswer extends ForwardingHandler implements SseEventTarget {
  readonly #ctx: RequestContext;
  readonly #filter: TextFilter;
  #mode: 'stream' | 'body' | 'pass' = 'pass';
  #rewriter: StreamRewriter | null = null;
  #decoder: SseDecoder | null = null;
  #out = '';
  #headers: IncomingHttpHeaders = {};
  #statusMessage: string | undefined;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(ctx: RequestContext, filter: TextFilter, next: UpstreamHandler) {
    super(next);
    this.#ctx = ctx;
    this.#filter = filter;
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status !== 200) {
      this.next.onResponseStart(controller, status, headers, statusMessage);
      return;
    }
    if (this.#ctx.stream) {
      this.#mode = 'stream';
      this.#rewriter = streamRewriter(this.#ctx.endpoint.protocol, this.#filter);
      this.#decoder = new SseDecoder();
      this.next.onResponseStart(controller, status, headers, statusMessage);
    } else {
      // The head waits for the filtered body: its length changes.
      this.#mode = 'body';
      this.#headers = headers;
      this.#statusMessage = statusMessage;
    }
  }

  override onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#mode === 'stream') {
      this.#decoder!.feed(chunk, this);
      const out = this.#out;
      this.#out = '';
      this.next.onResponseData(controller, out === '' ? EMPTY : Buffer.from(out));
    } else if (this.#mode === 'body') {
      this.#size += chunk.length;
      this.#chunks.push(chunk);
    } else this.next.onResponseData(controller, chunk);
  }

  onEvent(data: string, name: string): void {
    this.#out += this.#rewriter!.event(data, name);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    if (this.#mode === 'body') {
      const whole = Buffer.concat(this.#chunks, this.#size);
      this.#chunks = [];
      const filtered = this.#size > MAX_FILTERED_BODY ? null : filterBody(this.#ctx.endpoint.protocol, whole.toString('utf8'), this.#filter);
      const body = filtered === null ? whole : Buffer.from(filtered);
      const { 'content-length': _length, ...headers } = this.#headers;
      this.next.onResponseStart(controller, 200, { ...headers, 'content-length': String(body.length) }, this.#statusMessage);
      this.next.onResponseData(controller, body);
    }
    this.next.onResponseEnd(controller, trailers);
  }
}
