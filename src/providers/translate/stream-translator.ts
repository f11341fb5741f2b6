/**
 * A translated stream: upstream SSE bytes in, the client's SSE text out, one
 * upstream event at a time. It pairs a reader of the upstream protocol with a
 * writer of the client's; nothing of the answer is held back (see the writers for
 * what each protocol makes them remember).
 *
 * Rules for bad upstream streams, the same in every direction:
 *   - data that is not JSON, content before the stream's opening event, or an
 *     upstream error event → the client's error event, then nothing more;
 *   - the body ends mid-event or before the answer finished → the client's error event;
 *   - a single line over MAX_SSE_LINE → the client's error event;
 *   - unknown but valid event types, and keep-alives (Anthropic `ping`, SSE comments)
 *     → dropped, since they have no counterpart in the client's protocol. A stream
 *     relayed without translation passes them through untouched.
 * `failed` tells the caller (usage record) that the stream ended in error.
 */
import type { ResponsesEcho } from './answer-write.ts';
import { AnthropicStreamReader } from './anthropic-stream-reader.ts';
import { AnthropicStreamWriter } from './anthropic-stream-writer.ts';
import { ChatStreamReader } from './chat-stream-reader.ts';
import { ChatStreamWriter } from './chat-stream-writer.ts';
import { ResponsesStreamWriter } from './responses-stream-writer.ts';
import { SseDecoder, type SseEventTarget } from './sse-frame.ts';
import { UPSTREAM_STREAM_ERROR, type ClientWriter, type StreamReader } from './stream-sink.ts';

export class StreamTranslator implements SseEventTarget {
  readonly #reader: StreamReader;
  readonly #writer: ClientWriter;
  readonly #decoder = new SseDecoder();
  constructor(reader: StreamReader, writer: ClientWriter) {
    this.#reader = reader;
    this.#writer = writer;
  }

  /** Upstream body bytes → client SSE text ('' when this chunk completed no event). */
  write(chunk: Buffer | string): string {
    if (this.#writer.closed) return '';
    this.#decoder.feed(chunk, this);
    if (this.#decoder.overflow) this.#fail('The upstream sent an oversized stream event.');
    return this.#writer.take();
  }

  /** One already-decoded upstream event → client SSE text. */
  push(data: string, event = ''): string {
    this.onEvent(data, event);
    return this.#writer.take();
  }

  /** The upstream body ended → the rest of the client stream (an error event if it was cut short). */
  end(): string {
    if (!this.#writer.closed) {
      if (this.#decoder.pending) this.#fail('The upstream stream was cut in the middle of an event.');
      else this.#reader.end(this.#writer);
    }
    return this.#writer.take();
  }

  /** The upstream connection failed (reset, timeout) → the client's error event. */
  abort(message: string): string {
    this.#fail(message);
    return this.#writer.take();
  }

  /** True once the client stream is complete (normally or with an error). */
  get closed(): boolean {
    return this.#writer.closed;
  }

  /** True once the client stream ended with an error event (the usage record marks an upstream error). */
  get failed(): boolean {
    return this.#writer.failed;
  }

  onEvent(data: string, event: string): void {
    if (this.#writer.closed) return;
    this.#reader.read(data, event, this.#writer);
  }

  #fail(message: string): void {
    if (this.#writer.closed) return;
    this.#writer.error(UPSTREAM_STREAM_ERROR, message);
  }
}

/** Chat upstream → Anthropic client. The upstream request must ask for `stream_options.include_usage`. */
export function chatToAnthropicStream(): StreamTranslator {
  return new StreamTranslator(new ChatStreamReader(), new AnthropicStreamWriter());
}

/** Anthropic upstream → chat client; `includeUsage` is the client's `stream_options.include_usage`. */
export function anthropicToChatStream(includeUsage: boolean): StreamTranslator {
  return new StreamTranslator(new AnthropicStreamReader(), new ChatStreamWriter(includeUsage));
}

/** Chat upstream → Responses client; `echo` is the client's request (fields echoed in the response object). */
export function chatToResponsesStream(echo: ResponsesEcho = {}): StreamTranslator {
  return new StreamTranslator(new ChatStreamReader(), new ResponsesStreamWriter(echo));
}

/** Anthropic upstream → Responses client. */
export function anthropicToResponsesStream(echo: ResponsesEcho = {}): StreamTranslator {
  return new StreamTranslator(new AnthropicStreamReader(), new ResponsesStreamWriter(echo));
}
