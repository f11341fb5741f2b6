/**
 * A TextFilter applied to an answer in the client's protocol, keeping SSE framing
 * and JSON valid: the text of every content delta goes through one TextStream per
 * choice / content block / output part; what a stream still holds at its end is
 * emitted in the event that closes it (chat: the finish_reason chunk; Anthropic: a
 * text delta just before content_block_stop; Responses: a delta just before
 * output_text.done). Events that carry no text are passed on without a parse.
 *
 * "Strip thinking" also removes the provider's own reasoning channels:
 * `reasoning_content` fields (DeepSeek-style chat), Anthropic thinking text
 * (the block stays, empty, so block indexes do not move) and Responses reasoning
 * summaries (the item stays, with no summary; its summary events are dropped).
 * Streamed and non-streamed answers are filtered alike.
 */
import type { Protocol } from '../edge/endpoints.ts';
import { sseData, sseEvent } from '../providers/translate/sse-frame.ts';
import type { TextFilter, TextStream } from './text-filter.ts';

/** Rewrites one client stream, event by event. */
export interface StreamRewriter {
  /** One decoded event (data and `event:` name) → the framed text to send. */
  event(data: string, name: string): string;
}

export function streamRewriter(protocol: Protocol, filter: TextFilter): StreamRewriter {
  if (protocol === 'anthropic') return new AnthropicRewriter(filter);
  if (protocol === 'responses') return new ResponsesRewriter(filter);
  return new ChatRewriter(filter);
}

/** OpenAI chat and legacy completions chunks. */
class ChatRewriter implements StreamRewriter {
  readonly #filter: TextFilter;
  readonly #streams = new Map<number, TextStream>();
  /** The latest chunk's data, for a closing chunk when a choice's text outlives its finish. */
  #lastRaw: string | null = null;

  constructor(filter: TextFilter) {
    this.#filter = filter;
  }

  event(data: string, name: string): string {
    if (data === '[DONE]') return this.#flushAll() + frame(data, name);
    // The common chunk — one choice, a content delta, no finish — is spliced without a parse.
    if (!data.includes('"finish_reason":"') && !data.includes('reasoning_content')) {
      const index = indexField(data);
      const spliced = spliceString(data, CONTENT_MARK, (text) => this.#stream(index).push(text));
      if (spliced !== null) {
        this.#lastRaw = data;
        return frame(spliced, name);
      }
    }
    if (!data.includes('"content"') && !data.includes('"text"') && !data.includes('"finish_reason":"') && !data.includes('reasoning_content')) return frame(data, name);
    const chunk = parse(data);
    if (chunk === null || !Array.isArray(chunk.choices)) return frame(data, name);
    for (const choice of chunk.choices) {
      if (choice === null || typeof choice !== 'object') continue;
      const stream = this.#stream(choice.index);
      const delta = choice.delta;
      if (delta !== null && typeof delta === 'object') {
        if (this.#filter.stripThinking) delete delta.reasoning_content;
        if (typeof delta.content === 'string') delta.content = stream.push(delta.content);
      }
      if (typeof choice.text === 'string') choice.text = stream.push(choice.text);
      if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
        const rest = stream.end();
        if (rest !== '') {
          if (typeof choice.text === 'string') choice.text += rest;
          else if (delta !== null && typeof delta === 'object') delta.content = (typeof delta.content === 'string' ? delta.content : '') + rest;
        }
        this.#streams.delete(choice.index ?? 0);
      }
    }
    this.#lastRaw = data;
    return frame(JSON.stringify(chunk), name);
  }

  #stream(index: unknown): TextStream {
    const i = typeof index === 'number' ? index : 0;
    let stream = this.#streams.get(i);
    if (stream === undefined) this.#streams.set(i, (stream = this.#filter.stream()));
    return stream;
  }

  /** Choices whose text is still held when the stream ends without their finish_reason. */
  #flushAll(): string {
    let out = '';
    for (const [index, stream] of this.#streams) {
      const rest = stream.end();
      const last = this.#lastRaw === null ? null : parse(this.#lastRaw);
      if (rest === '' || last === null) continue;
      const { id, object, created, model } = last;
      out += sseData(JSON.stringify({ id, object, created, model, choices: [{ index, delta: { content: rest }, finish_reason: null }] }));
    }
    this.#streams.clear();
    return out;
  }
}

/** Anthropic Messages events. */
class AnthropicRewriter implements StreamRewriter {
  readonly #filter: TextFilter;
  readonly #streams = new Map<number, TextStream>();

  constructor(filter: TextFilter) {
    this.#filter = filter;
  }

  event(data: string, name: string): string {
    if (name === 'content_block_delta') {
      if (data.includes('"text_delta"')) {
        const index = indexField(data);
        const spliced = spliceString(data, TEXT_MARK, (text) => this.#stream(index).push(text));
        if (spliced !== null) return frame(spliced, name);
      }
      const event = parse(data);
      const delta = event?.delta;
      if (delta?.type === 'text_delta' && typeof delta.text === 'string') {
        delta.text = this.#stream(event.index).push(delta.text);
        return frame(JSON.stringify(event), name);
      }
      if (delta?.type === 'thinking_delta' && this.#filter.stripThinking) {
        delta.thinking = '';
        return frame(JSON.stringify(event), name);
      }
      return frame(data, name);
    }
    if (name === 'content_block_start' && this.#filter.stripThinking && data.includes('"thinking"')) {
      const event = parse(data);
      if (event?.content_block?.type === 'thinking') event.content_block.thinking = '';
      return frame(event === null ? data : JSON.stringify(event), name);
    }
    if (name === 'content_block_stop') {
      const index = parse(data)?.index;
      const stream = this.#streams.get(index);
      if (stream === undefined) return frame(data, name);
      this.#streams.delete(index);
      const rest = stream.end();
      const flush = rest === '' ? '' : sseEvent('content_block_delta', JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: rest } }));
      return flush + frame(data, name);
    }
    return frame(data, name);
  }

  #stream(index: unknown): TextStream {
    const i = typeof index === 'number' ? index : 0;
    let stream = this.#streams.get(i);
    if (stream === undefined) this.#streams.set(i, (stream = this.#filter.stream()));
    return stream;
  }
}

/** OpenAI Responses events. */
class ResponsesRewriter implements StreamRewriter {
  readonly #filter: TextFilter;
  readonly #streams = new Map<string, { stream: TextStream; last: Record<string, any> }>();

  constructor(filter: TextFilter) {
    this.#filter = filter;
  }

  event(data: string, name: string): string {
    const type = name !== '' ? name : (parse(data)?.type ?? '');
    if (type === 'response.output_text.delta') {
      const event = parse(data);
      if (event === null || typeof event.delta !== 'string') return frame(data, name);
      const key = `${event.item_id}/${event.content_index}`;
      let entry = this.#streams.get(key);
      if (entry === undefined) this.#streams.set(key, (entry = { stream: this.#filter.stream(), last: event }));
      event.delta = entry.stream.push(event.delta);
      entry.last = event;
      return frame(JSON.stringify(event), name);
    }
    if (type === 'response.output_text.done') {
      const event = parse(data);
      if (event === null) return frame(data, name);
      const key = `${event.item_id}/${event.content_index}`;
      const entry = this.#streams.get(key);
      this.#streams.delete(key);
      const rest = entry?.stream.end() ?? '';
      const flush = rest === '' ? '' : sseEvent('response.output_text.delta', JSON.stringify({ ...entry!.last, delta: rest }));
      if (typeof event.text === 'string') event.text = this.#filter.filter(event.text);
      return flush + frame(JSON.stringify(event), name);
    }
    if (this.#filter.stripThinking && type.startsWith('response.reasoning')) return '';
    if (type === 'response.content_part.done' || type === 'response.output_item.done' || type === 'response.output_item.added' ||
        type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      const event = parse(data);
      if (event === null) return frame(data, name);
      if (event.part !== undefined) filterPart(event.part, this.#filter);
      if (event.item !== undefined) filterItem(event.item, this.#filter);
      if (Array.isArray(event.response?.output)) event.response.output = filterOutput(event.response.output, this.#filter);
      return frame(JSON.stringify(event), name);
    }
    return frame(data, name);
  }
}

/** A non-streamed answer body in the client's protocol, filtered; null when it is not JSON of that shape. */
export function filterBody(protocol: Protocol, text: string, filter: TextFilter): string | null {
  const body = parse(text);
  if (body === null) return null;
  if (protocol === 'anthropic') {
    if (!Array.isArray(body.content)) return null;
    for (const block of body.content) {
      if (block?.type === 'text' && typeof block.text === 'string') block.text = filter.filter(block.text);
      else if (block?.type === 'thinking' && filter.stripThinking) block.thinking = '';
    }
  } else if (protocol === 'responses') {
    if (!Array.isArray(body.output)) return null;
    body.output = filterOutput(body.output, filter);
  } else {
    if (!Array.isArray(body.choices)) return null;
    for (const choice of body.choices) {
      const message = choice?.message;
      if (message !== null && typeof message === 'object') {
        if (filter.stripThinking) delete message.reasoning_content;
        if (typeof message.content === 'string') message.content = filter.filter(message.content);
      }
      if (typeof choice?.text === 'string') choice.text = filter.filter(choice.text);
    }
  }
  return JSON.stringify(body);
}

function filterOutput(output: any[], filter: TextFilter): any[] {
  for (const item of output) filterItem(item, filter);
  return output;
}

function filterItem(item: any, filter: TextFilter): void {
  if (item?.type === 'message' && Array.isArray(item.content)) for (const part of item.content) filterPart(part, filter);
  if (item?.type === 'reasoning' && filter.stripThinking) item.summary = [];
}

function filterPart(part: any, filter: TextFilter): void {
  if (part?.type === 'output_text' && typeof part.text === 'string') part.text = filter.filter(part.text);
}

const CONTENT_MARK = '"content":"';
const TEXT_MARK = '"text":"';
const INDEX_MARK = '"index":';

/** The first `"index":N` of an event (the choice or content block it belongs to); 0 when absent. */
function indexField(data: string): number {
  const at = data.indexOf(INDEX_MARK);
  if (at === -1) return 0;
  let n = 0;
  for (let i = at + INDEX_MARK.length; i < data.length; i++) {
    const d = data.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return n;
}

/**
 * `data` with the JSON string value after the first `mark` replaced by
 * `transform(value)`, without parsing the rest; null when `mark` is absent or
 * occurs twice (then the caller parses). Compact JSON from every major provider
 * has the marks as written.
 */
function spliceString(data: string, mark: string, transform: (text: string) => string): string | null {
  const at = data.indexOf(mark);
  if (at === -1) return null;
  const from = at + mark.length;
  // The closing quote: the first one not escaped (an odd run of backslashes before it escapes it).
  let to = data.indexOf('"', from);
  while (to !== -1 && escapedAt(data, to)) to = data.indexOf('"', to + 1);
  if (to === -1 || data.indexOf(mark, to + 1) !== -1) return null;
  const raw = data.slice(from, to);
  let text = raw;
  if (raw.includes('\\')) {
    try {
      text = JSON.parse('"' + raw + '"');
    } catch {
      return null;
    }
  }
  return data.slice(0, from - 1) + JSON.stringify(transform(text)) + data.slice(to + 1);
}

/** True when the character at `i` is escaped by an odd run of backslashes before it. */
function escapedAt(data: string, i: number): boolean {
  let n = 0;
  while (i - n - 1 >= 0 && data.charCodeAt(i - n - 1) === 0x5c) n++;
  return n % 2 === 1;
}

const frame = (data: string, name: string): string => (name === '' ? sseData(data) : sseEvent(name, data));

function parse(text: string): any {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}
