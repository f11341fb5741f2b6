/**
 * Translate answer: the upstream's answer in the client's protocol, for a
 * channel that does not speak it (see providers/translate/directions.ts). It
 * sits after the usage tap, which meters the upstream's own bytes, and before
 * the client sink.
 *
 *   - A stream is translated event by event as chunks arrive; nothing is held
 *     back but a partial upstream event. A broken upstream stream (not JSON,
 *     cut mid-event, an error event) ends in the client protocol's error event
 *     and the record is marked as an upstream error.
 *   - A non-streamed answer is collected (an answer, not a stream: a few KB),
 *     translated whole at its end, and sent with its own length; one that is not
 *     the upstream protocol's shape becomes a 502 in the client's shape.
 *   - An error answer passed on to the client (a 4xx that is the request's fault)
 *     keeps its status and message, in the client's error shape.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../gateway/context.ts';
import { clientErrorBody, readErrorBody, type StreamTranslator, type Translation } from '../providers/translate/index.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';

type Controller = Dispatcher.DispatchController;

/** Most of a non-streamed answer collected for translation; past it the answer fails (502). */
const MAX_TRANSLATED_BODY = 16 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const STREAM_HEADERS: IncomingHttpHeaders = { 'content-type': 'text/event-stream' };

export class TranslateAnswer extends ForwardingHandler {
  readonly #ctx: RequestContext;
  readonly #translation: Translation;
  #status = 0;
  #statusMessage: string | undefined;
  /** Set for a streamed 200 answer; null while a body is collected. */
  #stream: StreamTranslator | null = null;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(ctx: RequestContext, translation: Translation, next: UpstreamHandler) {
    super(next);
    this.#ctx = ctx;
    this.#translation = translation;
  }

  override onResponseStart(controller: Controller, status: number, _headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.#status = status;
    this.#statusMessage = statusMessage;
    if (status === 200 && this.#ctx.stream) {
      this.#stream = this.#translation.stream(this.#ctx.json!);
      this.next.onResponseStart(controller, status, STREAM_HEADERS, statusMessage);
    }
    // A body's head waits for its translation: its status may still change.
  }

  override onResponseData(controller: Controller, chunk: Buffer): void {
    const stream = this.#stream;
    if (stream !== null) {
      const text = stream.write(chunk);
      this.next.onResponseData(controller, text === '' ? EMPTY : Buffer.from(text));
      return;
    }
    this.#size += chunk.length;
    if (this.#size <= MAX_TRANSLATED_BODY) this.#chunks.push(chunk);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    const stream = this.#stream;
    if (stream !== null) {
      const rest = stream.end();
      if (rest !== '') this.next.onResponseData(controller, Buffer.from(rest));
      if (stream.failed) this.#ctx.errorClass = 'stream_error';
      this.next.onResponseEnd(controller, trailers);
      return;
    }
    const { status, body } = this.#translatedBody();
    this.next.onResponseStart(controller, status, { 'content-type': 'application/json', 'content-length': String(body.length) }, this.#statusMessage);
    this.next.onResponseData(controller, body);
    this.next.onResponseEnd(controller, trailers);
  }

  override onResponseError(controller: Controller, err: Error): void {
    // A stream already under way ends with the client's error event; before the first
    // byte the error goes on as it is, and the relay may fail over.
    const stream = this.#stream;
    if (stream !== null && this.#ctx.committed && !stream.closed) {
      const text = stream.abort('The upstream connection failed in the middle of the answer.');
      if (text !== '') this.next.onResponseData(controller, Buffer.from(text));
    }
    this.next.onResponseError(controller, err);
  }

  #translatedBody(): { status: number; body: Buffer } {
    const ctx = this.#ctx;
    const client = this.#translation.client;
    const text = this.#size > MAX_TRANSLATED_BODY ? null : Buffer.concat(this.#chunks, this.#size).toString('utf8');
    this.#chunks = [];
    let parsed: unknown;
    try {
      parsed = text === null ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (this.#status >= 300) {
      // The upstream's error, in the client's shape: its message survives the translation.
      const error = readErrorBody(parsed);
      const message = error?.message ?? (text ?? '').slice(0, 1_000);
      return { status: this.#status, body: Buffer.from(clientErrorBody(client, this.#status, message)) };
    }
    try {
      if (parsed === undefined) throw new TypeError('not JSON');
      return { status: this.#status, body: Buffer.from(JSON.stringify(this.#translation.answer(parsed, ctx.json!))) };
    } catch {
      ctx.errorClass = 'untranslatable_answer';
      const message = `The upstream channel '${ctx.channel}' sent an answer that could not be translated to this API.`;
      return { status: 502, body: Buffer.from(clientErrorBody(client, 502, message, null, 'upstream_error')) };
    }
  }
}
