/**
 * The token usage an upstream reports, and reading it out of responses without
 * parsing whole bodies: a non-streamed answer can be megabytes (embeddings),
 * and only its `usage` object matters to us.
 */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
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
 */
export function usageFromObject(u: any): TokenUsage | null {
  if (u === null || typeof u !== 'object') return null;
  const prompt = u.prompt_tokens ?? u.input_tokens;
  const completion = u.completion_tokens ?? u.output_tokens;
  if (prompt === undefined && completion === undefined) return null;
  const promptTokens = tokenCount(prompt);
  const completionTokens = tokenCount(completion);
  const invalid = promptTokens < 0 || completionTokens < 0;
  return {
    promptTokens: invalid ? 0 : promptTokens,
    completionTokens: invalid ? 0 : completionTokens,
    invalid,
    promptReported: prompt !== undefined && prompt !== null,
    completionReported: completion !== undefined && completion !== null,
  };
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
