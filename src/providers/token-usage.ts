/**
 * The token usage an upstream reports, and reading it out of responses without
 * parsing whole bodies: a non-streamed answer can be megabytes (embeddings),
 * and only its `usage` object matters to us.
 */
export interface TokenUsage {
  /** Every prompt token, cached and cache-written ones included (see usage-normalized.ts). */
  promptTokens: number;
  /** Every generated token, reasoning included. */
  completionTokens: number;
  /** The part of promptTokens read from the provider's prompt cache. */
  cachedTokens: number;
  /** The part of promptTokens written to the prompt cache (Anthropic; some OpenAI-compatible servers). */
  cacheWriteTokens: number;
  /** The part of completionTokens spent on reasoning, when the provider says. */
  reasoningTokens: number;
  /** A count was unusable (negative, not a number, above MAX_USAGE_TOKENS): the gateway counts instead. */
  invalid: boolean;
  /**
   * Whether each count was there: null or absent means not reported (Anthropic's
   * message_delta sends `input_tokens: null`), and the gateway counts that one itself.
   */
  promptReported: boolean;
  completionReported: boolean;
}

const USAGE_KEY = Buffer.from('"usage"');

/**
 * The most tokens one request may report per field. Far above any model's
 * context, and below 2^31 so every accepted count fits the store's integer
 * columns on both SQLite and PostgreSQL: a count the store could not hold
 * would leave a debit without its record.
 */
export const MAX_USAGE_TOKENS = 1_000_000_000;

/**
 * Usage from a usage object under either naming: `prompt_tokens`/`completion_tokens`
 * (OpenAI chat, completions, embeddings) or `input_tokens`/`output_tokens`
 * (Anthropic; OpenAI's Responses API). Fractions round up, numeric strings are
 * read; anything else marks the usage invalid.
 *
 * The kinds follow usage-normalized.ts: OpenAI counts cached tokens inside
 * `prompt_tokens`/`input_tokens` (`*_tokens_details.cached_tokens`) and reasoning
 * inside the completion (`*_tokens_details.reasoning_tokens`); Anthropic counts
 * `cache_read_input_tokens` and `cache_creation_input_tokens` OUTSIDE
 * `input_tokens`, so they are added to the prompt here. An unusable kind count
 * is taken as 0 (the tokens are then priced as plain input or output).
 */
export function usageFromObject(u: any): TokenUsage | null {
  if (u === null || typeof u !== 'object') return null;
  const prompt = u.prompt_tokens ?? u.input_tokens;
  const completion = u.completion_tokens ?? u.output_tokens;
  if (prompt === undefined && completion === undefined) return null;
  let promptTokens = tokenCount(prompt);
  const completionTokens = tokenCount(completion);
  const invalid = promptTokens < 0 || completionTokens < 0;
  let cached: number;
  let cacheWrite: number;
  const anthropic = u.prompt_tokens === undefined && (u.cache_read_input_tokens != null || u.cache_creation_input_tokens != null);
  if (anthropic) {
    cached = kindCount(u.cache_read_input_tokens);
    cacheWrite = kindCount(u.cache_creation_input_tokens);
    if (!invalid && (prompt !== undefined && prompt !== null || cached + cacheWrite > 0)) promptTokens = Math.min(MAX_USAGE_TOKENS, promptTokens + cached + cacheWrite);
  } else {
    const details = u.prompt_tokens_details ?? u.input_tokens_details;
    cached = kindCount(details?.cached_tokens);
    cacheWrite = kindCount(details?.cache_write_tokens ?? u.cache_creation_input_tokens);
  }
  const reasoning = kindCount((u.completion_tokens_details ?? u.output_tokens_details)?.reasoning_tokens);
  return {
    promptTokens: invalid ? 0 : promptTokens,
    completionTokens: invalid ? 0 : completionTokens,
    // A part never exceeds its whole: a provider reporting more cached than prompt tokens is clamped.
    cachedTokens: invalid ? 0 : Math.min(cached, promptTokens),
    cacheWriteTokens: invalid ? 0 : Math.min(cacheWrite, promptTokens - Math.min(cached, promptTokens)),
    reasoningTokens: invalid ? 0 : Math.min(reasoning, completionTokens),
    invalid,
    promptReported: prompt !== undefined && prompt !== null,
    completionReported: completion !== undefined && completion !== null,
  };
}

/**
 * Folds a later Anthropic stream usage (message_delta) into the usage so far. Its
 * counts are cumulative, as usage-normalized.ts's mergeAnthropicUsage reads them:
 * output_tokens replaces the output, and each input field it carries (input_tokens,
 * cache_read_input_tokens, cache_creation_input_tokens) replaces that part of the
 * prompt while the parts it leaves out stay, so a delta restating only
 * `input_tokens` neither drops nor double-counts message_start's cache counts.
 * Unlike that mapper, a 0 never replaces a count already known: some
 * Anthropic-compatible servers fill message_delta's fields with placeholder zeros,
 * and a cumulative count does not fall to 0. The caller has already checked `u`
 * with usageFromObject (no unusable count).
 */
export function mergeAnthropicStreamUsage(into: TokenUsage, u: any): void {
  if (u === null || typeof u !== 'object') return;
  const output = tokenCount(u.output_tokens);
  if (output > 0) {
    into.completionTokens = output;
    into.completionReported = true;
  }
  const input = tokenCount(u.input_tokens);
  const read = kindCount(u.cache_read_input_tokens);
  const write = kindCount(u.cache_creation_input_tokens);
  if (input <= 0 && read === 0 && write === 0) return;
  const uncached = input > 0 ? input : into.promptTokens - into.cachedTokens - into.cacheWriteTokens;
  if (read > 0) into.cachedTokens = read;
  if (write > 0) into.cacheWriteTokens = write;
  into.promptTokens = Math.min(MAX_USAGE_TOKENS, uncached + into.cachedTokens + into.cacheWriteTokens);
  // A part never exceeds its whole (only a clamped, absurd prompt gets here).
  into.cachedTokens = Math.min(into.cachedTokens, into.promptTokens);
  into.cacheWriteTokens = Math.min(into.cacheWriteTokens, into.promptTokens - into.cachedTokens);
  if (input > 0) into.promptReported = true;
}

/** A kind count (cached, cache write, reasoning): like tokenCount, but unusable is 0. */
function kindCount(v: unknown): number {
  const n = tokenCount(v);
  return n < 0 ? 0 : n;
}

/** A reported count as a non-negative integer; 0 when absent or null; -1 when unusable. */
function tokenCount(v: unknown): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) return -1;
  const whole = Math.ceil(n);
  return whole > MAX_USAGE_TOKENS ? -1 : whole;
}

/**
 * The usage object of a complete JSON response body: finds the last `"usage"`
 * key and parses just the object that follows it, wherever it stands and
 * however the JSON is spaced.
 */
export function usageFromBody(body: Buffer): TokenUsage | null {
  const at = body.lastIndexOf(USAGE_KEY);
  if (at < 0) return null;
  const open = body.indexOf(0x7b /* { */, at + USAGE_KEY.length);
  if (open < 0) return null;
  const close = matchingBrace(body, open);
  if (close < 0) return null;
  try {
    return usageFromObject(JSON.parse(body.toString('utf8', open, close + 1)));
  } catch {
    return null;
  }
}

/** Index of the `}` closing the object opened at `open`, honouring strings; -1 if unterminated. */
export function matchingBrace(buf: Buffer, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i;
  }
  return -1;
}
