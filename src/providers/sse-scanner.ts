/**
 * Incremental scanner for an upstream SSE stream. It looks at each complete
 * `data:` line once, as the bytes arrive, to (1) read the usage the events
 * carry and (2) count the completion tokens of content deltas, so a stream cut
 * short is still metered by what it produced — without keeping the text.
 * Where usage and text sit in an event is the protocol's business (StreamEvents).
 *
 * Memory: only the unfinished last line is carried between chunks, capped at
 * MAX_LINE; a longer line is passed through unparsed.
 *
 * Filtering: when the gateway itself asked the upstream for stream usage, the
 * client did not, so the usage-only event is removed from what the client
 * sees. Only then does the scanner re-slice chunks at line boundaries;
 * otherwise it returns each chunk untouched.
 */
import type { TokenUsage } from './token-usage.ts';
import { scrubErrorBody } from './scrub-secrets.ts';
import type { StreamEvents } from './provider.ts';

const NL = 0x0a;
const MAX_LINE = 1 << 20;
const DATA_PREFIX = 'data:';
// Keys that send a line to the full JSON parse, found with or without
// whitespace after them (Python's json.dumps writes `"usage": {`).
const USAGE_MARK = '"usage"';
const ERROR_MARK = '"error"';

export type TokenCounter = (text: string) => number;

/** Characters of delta text kept uncounted before they are counted on the spot. */
const UNCOUNTED_LIMIT = 64 * 1024;

export class SseScanner {
  usage: TokenUsage | null = null;
  /** The stream carried an error event (after its 200). */
  errorSeen = false;
  /** The upstream reported counts that cannot be used; its usage is ignored and the gateway counts. */
  usageInvalid = false;
  /** Tokens of the deltas already counted; the rest wait in #uncounted. */
  #counted = 0;
  /**
   * Delta texts not counted yet. Counting waits until someone asks: a stream
   * whose upstream reports usage (nearly all) is never tokenized, so the
   * tokenizer is neither run per chunk nor loaded. Past UNCOUNTED_LIMIT
   * characters they are counted at once, so a long stream holds little text.
   */
  #uncounted: string[] = [];
  #uncountedChars = 0;
  readonly #events: StreamEvents;
  readonly #filterUsageEvent: boolean;
  readonly #countTokens: TokenCounter;
  readonly #secret: string | null;
  #carry: Buffer | null = null;
  #dropBlankLine = false;
  /** The scrubbed form of the error line just inspected, when scrubbing changed it. */
  #replacement: Buffer | null = null;

  /** Error events are scrubbed of `secret` (the key sent upstream, which it may echo) and of key-shaped text. */
  constructor(events: StreamEvents, filterUsageEvent: boolean, countTokens: TokenCounter, secret: string | null = null) {
    this.#events = events;
    this.#filterUsageEvent = filterUsageEvent;
    this.#countTokens = countTokens;
    this.#secret = secret;
  }

  /** Scan a chunk; returns what to forward to the client (possibly empty). */
  push(chunk: Buffer): Buffer {
    let data = chunk;
    // Without filtering, a carried partial line was already forwarded with its chunk:
    // only bytes from `forwardedTo` on are this call's to shape.
    let forwardedTo = 0;
    if (this.#carry !== null) {
      if (!this.#filterUsageEvent) forwardedTo = this.#carry.length;
      data = Buffer.concat([this.#carry, chunk]);
      this.#carry = null;
    }
    let out: Buffer[] | null = null; // only allocated when a line is dropped or replaced
    let keptFrom = forwardedTo;
    let lineStart = 0;
    for (let nl = data.indexOf(NL); nl !== -1; nl = data.indexOf(NL, lineStart)) {
      const drop = this.#line(data, lineStart, nl);
      const replacement = this.#replacement;
      this.#replacement = null;
      // A line that began in bytes already forwarded cannot be taken back (documented limit).
      if ((drop || replacement !== null) && lineStart >= forwardedTo) {
        out ??= [];
        if (lineStart > keptFrom) out.push(data.subarray(keptFrom, lineStart));
        if (replacement !== null) out.push(replacement);
        keptFrom = nl + 1;
      }
      lineStart = nl + 1;
    }
    if (lineStart < data.length) {
      if (data.length - lineStart <= MAX_LINE) {
        if (this.#filterUsageEvent) {
          // Hold the partial line back: it may be the usage event we must drop.
          this.#carry = Buffer.from(data.subarray(lineStart));
          data = data.subarray(0, lineStart);
        } else {
          this.#carry = Buffer.from(data.subarray(lineStart));
        }
      }
    }
    if (!this.#filterUsageEvent && out === null) return chunk;
    if (out === null) return keptFrom === 0 ? data : data.subarray(keptFrom);
    if (keptFrom < data.length) out.push(data.subarray(keptFrom));
    return Buffer.concat(out);
  }

  /** Bytes still held back at the end of the stream. */
  end(): Buffer | null {
    const rest = this.#carry;
    this.#carry = null;
    if (rest !== null && rest.length > 0) this.#line(rest, 0, rest.length);
    return this.#filterUsageEvent ? rest : null;
  }

  /** Inspects one line; returns true when it must not reach the client. */
  #line(buf: Buffer, start: number, end: number): boolean {
    if (end - start <= 1) {
      // Blank line: the end of an event. Drop it if its event was dropped.
      if (this.#dropBlankLine) {
        this.#dropBlankLine = false;
        return true;
      }
      return false;
    }
    if (buf[start] !== 0x64 /* d */) return false; // event:, id:, comments
    const line = buf.toString('utf8', start, end);
    if (!line.startsWith(DATA_PREFIX)) return false;
    if (line.includes(USAGE_MARK) || line.includes(ERROR_MARK)) return this.#parsedLine(line);
    // Compact JSON (every major provider) is counted from the delta's bytes, without a parse;
    // anything else with a text field takes the parse.
    const marks = this.#events.deltaMarks;
    for (let i = 0; i < marks.length; i++) if (this.#countDelta(line, marks[i])) return false;
    if (line.includes('"content"') || line.includes('"text"')) return this.#parsedLine(line);
    return false;
  }

  #parsedLine(line: string): boolean {
    let event: any;
    try {
      event = JSON.parse(line.slice(DATA_PREFIX.length));
    } catch {
      return false;
    }
    if (event === null || typeof event !== 'object') return false;
    const events = this.#events;
    // An error event after a 200 (OpenAI `{"error":…}`, Anthropic `{"type":"error",…}`): the answer failed.
    if (event.type === 'error' || (event.error !== null && typeof event.error === 'object')) {
      this.errorSeen = true;
      if (this.#secret !== null) {
        const payload = line.slice(DATA_PREFIX.length);
        const scrubbed = scrubErrorBody(payload, this.#secret);
        if (scrubbed !== payload) this.#replacement = Buffer.from(DATA_PREFIX + scrubbed + '\n');
      }
      return false;
    }
    const usage = events.usageOf(event);
    if (usage !== null && usage.invalid) this.usageInvalid = true;
    else if (usage !== null) {
      // Usage may come in parts (Anthropic: input in message_start, output in message_delta).
      if (this.usage === null) this.usage = usage;
      else if (events.mergeUsage !== undefined) events.mergeUsage(this.usage, event);
      else {
        const into = this.usage;
        if (usage.promptTokens > 0) into.promptTokens = usage.promptTokens;
        if (usage.completionTokens > 0) into.completionTokens = usage.completionTokens;
        if (usage.cachedTokens > 0) into.cachedTokens = usage.cachedTokens;
        if (usage.cacheWriteTokens > 0) into.cacheWriteTokens = usage.cacheWriteTokens;
        if (usage.reasoningTokens > 0) into.reasoningTokens = usage.reasoningTokens;
      }
    }
    const usageOnly = events.isUsageOnly(event);
    if (this.#filterUsageEvent && usageOnly) {
      this.#dropBlankLine = true;
      return true;
    }
    if (!usageOnly) this.#countText(events.deltaText(event));
    return false;
  }

  /** Counts the tokens of a content/text delta found by its JSON key; false when absent. */
  #countDelta(line: string, mark: string): boolean {
    const at = line.indexOf(mark);
    if (at < 0) return false;
    const from = at + mark.length;
    let to = from;
    let escaped = false;
    for (; to < line.length; to++) {
      const c = line.charCodeAt(to);
      if (c === 0x5c) escaped = true;
      else if (c === 0x22) {
        let backslashes = 0;
        for (let i = to - 1; i >= from && line.charCodeAt(i) === 0x5c; i--) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    }
    let text = line.slice(from, to);
    if (escaped) {
      try {
        text = JSON.parse(`"${text}"`);
      } catch {
        return true;
      }
    }
    if (text.length > 0) this.#keepText(text);
    return true;
  }

  #countText(text: unknown): void {
    if (typeof text === 'string' && text.length > 0) this.#keepText(text);
  }

  #keepText(text: string): void {
    this.#uncounted.push(text);
    this.#uncountedChars += text.length;
    if (this.#uncountedChars > UNCOUNTED_LIMIT) this.#countKept();
  }

  /** Each delta counted on its own, as it would have been on arrival (a sum of per-delta counts, which errs high by a token at some boundaries). */
  #countKept(): void {
    for (const text of this.#uncounted) this.#counted += this.#countTokens(text);
    this.#uncounted = [];
    this.#uncountedChars = 0;
  }

  /** Completion tokens of the content deltas seen so far. */
  get countedCompletionTokens(): number {
    if (this.#uncounted.length > 0) this.#countKept();
    return this.#counted;
  }
}
