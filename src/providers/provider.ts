/**
 * What the gateway knows about providers, as data: a Provider is a channel
 * type (how its keys authenticate, which client protocols it serves), a
 * Dialect is one wire protocol as spoken to an upstream (request preparation,
 * where usage hides in its answers, what its error bodies say). Both are pure
 * mappings built once at start-up; nothing here does I/O or sees a request context.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ChannelType } from '../store/channel-repo.ts';
import type { Protocol } from '../edge/endpoints.ts';
import type { TokenUsage } from './token-usage.ts';

/** The header an upstream key travels in; computed once per key when the route table is built. */
export interface AuthHeader { readonly name: string; readonly value: string }

/** A channel type. */
export interface Provider {
  readonly type: ChannelType;
  /**
   * The client protocols a channel of this type serves natively. The first is the
   * one it is spoken to in when a request must be translated (chat for OpenAI-type
   * channels, Messages for Anthropic ones).
   */
  readonly protocols: readonly Protocol[];
  auth(secret: string): AuthHeader;
}

/** How one protocol's SSE events carry usage and text, for the stream scanner. */
export interface StreamEvents {
  /**
   * JSON keys opening a text delta's string, tried in order on the raw `data:`
   * line: counting a delta must not cost a JSON.parse of every event.
   */
  readonly deltaMarks: readonly string[];
  /** The usage a parsed event carries, or null. */
  usageOf(event: any): TokenUsage | null;
  /**
   * Folds the usage of a later event into the usage so far, for protocols that
   * report it in parts (Anthropic: message_start, then message_delta). Called only
   * when usageOf found usable counts in the event. Absent: later non-zero counts win.
   */
  mergeUsage?(into: TokenUsage, event: any): void;
  /** True for the usage-only event that asking for stream usage adds (the one to hide from a client that did not ask). */
  isUsageOnly(event: any): boolean;
  /** The text of a content delta in a parsed event, if any. */
  deltaText(event: any): unknown;
}

/** One wire protocol as the gateway speaks it to an upstream. */
export interface Dialect {
  readonly protocol: Protocol;
  readonly streamEvents: StreamEvents;
  /** Whether this request, as the client sent it, already gets usage in its stream. */
  streamCarriesUsage(json: Record<string, any>): boolean;
  /** The upstream path for an endpoint path (relative to `/v1`); basePath '' means the provider's default root. */
  upstreamPath(basePath: string, endpointPath: string): string;
  /** The upstream request headers, the key's auth header included. */
  upstreamHeaders(client: IncomingHttpHeaders, stream: boolean, authName: string, authValue: string): Record<string, string>;
  /**
   * The body to send: the client's bytes untouched unless the channel renames
   * the model or the gateway must ask for stream usage the client did not.
   */
  upstreamBody(body: Buffer, json: Record<string, any>, rename: string | undefined, askStreamUsage: boolean): Buffer;
  /** Usage from the tail of a complete non-streamed body (the usage object closes it). */
  bodyUsage(tail: Buffer): TokenUsage | null;
  /** The message of an upstream error body (its first 4 KB, as text). */
  errorMessage(text: string): string;
}
