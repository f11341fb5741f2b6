/**
 * Server-sent events on both sides of a translated stream: framing what we write
 * (`event: x\ndata: {...}\n\n` for Anthropic and Responses, `data: {...}\n\n` and
 * `data: [DONE]\n\n` for chat) and an incremental decoder for what the upstream sends
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
 */
import { StringDecoder } from 'node:string_decoder';

/** The chat stream terminator. */
export const SSE_DONE = 'data: [DONE]\n\n';

/** A named event (Anthropic, Responses): `event: <type>` then the JSON data line. */
export function sseEvent(type: string, json: string): string {
  return 'event: ' + type + '\ndata: ' + json + '\n\n';
}

/** An unnamed event (chat): just the data line. */
export function sseData(json: string): string {
  return 'data: ' + json + '\n\n';
}

/** Receives each complete upstream event. */
export interface SseEventTarget {
  onEvent(data: string, event: string): void;
}

/** Longest line the decoder holds while waiting for its end; a longer one is an upstream fault. */
export const MAX_SSE_LINE = 8 * 1024 * 1024;

/**
 * Splits upstream bytes into events as they arrive. Only the unfinished last line and
 * the data lines of the event in progress are held between chunks; each event is
 * handed on at its blank line, never batched.
 */
export class SseDecoder {
  readonly #text = new StringDecoder('utf8');
  #carry = '';
  #data = '';
  #hasData = false;
  #event = '';
  /** Set when a line exceeded MAX_SSE_LINE; the stream cannot be read further. */
  overflow = false;

  /** Feeds a chunk; calls `target.onEvent` for every event it completes. */
  feed(chunk: Buffer | string, target: SseEventTarget): void {
    const text = this.#carry + (typeof chunk === 'string' ? chunk : this.#text.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
      this.#line(text, start, end, target);
      start = nl + 1;
    }
    this.#carry = start === 0 ? text : text.slice(start);
    if (this.#carry.length > MAX_SSE_LINE) {
      this.overflow = true;
      this.#carry = '';
    }
  }

  /** True when bytes of an unfinished event are held: the stream was cut mid-event. */
  get pending(): boolean {
    return this.#carry.length > 0 || this.#hasData;
  }

  #line(text: string, start: number, end: number, target: SseEventTarget): void {
    if (end === start) {
      if (this.#hasData) {
        const data = this.#data;
        const event = this.#event;
        this.#data = '';
        this.#hasData = false;
        this.#event = '';
        target.onEvent(data, event);
      } else {
        this.#event = '';
      }
      return;
    }
    const first = text.charCodeAt(start);
    if (first === 0x3a /* : comment */) return;
    const colon = text.indexOf(':', start);
    const fieldEnd = colon < 0 || colon > end ? end : colon;
    let valueStart = fieldEnd + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === 0x20) valueStart++;
    const value = fieldEnd === end ? '' : text.slice(valueStart, end);
    const field = text.slice(start, fieldEnd);
    if (field === 'data') {
      this.#data = this.#hasData ? this.#data + '\n' + value : value;
      this.#hasData = true;
    } else if (field === 'event') {
      this.#event = value;
    }
  }
}
