/**
 * The protocol-neutral steps of a streamed answer. A reader (one per upstream
 * protocol) parses upstream events and calls these; a writer (one per client
 * protocol) turns each call into the client's events at once, appending framed SSE
 * text to `out`, which the translator hands on after every upstream event.
 *
 * Call order a reader guarantees: start, then any mix of text / reasoning /
 * toolCall + toolArguments, then finish, usage (zero or more times), end. `error`
 * may come at any point and is final. Tool indexes count tool calls from 0 in the
 * order they start.
 */
import type { NormalizedUsage } from '../usage-normalized.ts';
import type { FinishReason } from './answer.ts';

export interface StreamSink {
  start(id: string, model: string, created: number): void;
  text(delta: string): void;
  reasoning(delta: string): void;
  toolCall(index: number, id: string, name: string): void;
  toolArguments(index: number, delta: string): void;
  finish(reason: FinishReason, stopSequence: string | null): void;
  usage(usage: NormalizedUsage): void;
  end(): void;
  /** Ends the client stream with an error event; `type` is an Anthropic-style error type. */
  error(type: string, message: string): void;
}

/** A writer: a sink that accumulates the client's framed events. */
export interface ClientWriter extends StreamSink {
  /** Framed SSE text produced since the last call ('' when none). */
  take(): string;
  /** True once the client stream has ended (normally or with an error). */
  readonly closed: boolean;
  /** True once the client stream ended with an error event. */
  readonly failed: boolean;
}

/** A reader of one upstream protocol's events. */
export interface StreamReader {
  /** One upstream event: its data text and its `event:` name ('' when unnamed). */
  read(data: string, event: string, sink: StreamSink): void;
  /** The upstream stream ended; calls sink.end or sink.error if the answer was incomplete. */
  end(sink: StreamSink): void;
}

/** Error type used when the upstream's stream itself is broken. */
export const UPSTREAM_STREAM_ERROR = 'api_error';
