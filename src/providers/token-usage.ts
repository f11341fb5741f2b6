/**
 * The token usage an upstream reports, and reading it out of responses without
 * parsing whole bodies: a non-streamed answer can be megabytes (embeddings),
 * and only its `usage` object matters to us.
 */
export interface TokenUsage { promptTokens: number; completionTokens: number }

const USAGE_KEY = Buffer.from('"usage"');

/**
 * Usage from a usage object under either naming: `prompt_tokens`/`completion_tokens`
 * (OpenAI chat, completions, embeddings) or `input_tokens`/`output_tokens`
 * (Anthropic; OpenAI's Responses API).
 */
export function usageFromObject(u: any): TokenUsage | null {
  if (u === null || typeof u !== 'object') return null;
  const prompt = u.prompt_tokens ?? u.input_tokens;
  const completion = u.completion_tokens ?? u.output_tokens ?? 0;
  if (typeof prompt !== 'number' && typeof completion !== 'number') return null;
  return { promptTokens: nonNegativeInt(prompt), completionTokens: nonNegativeInt(completion) };
}

const nonNegativeInt = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

/**
 * The usage object of a complete JSON response body: finds the last `"usage"`
 * key and parses just the object that follows it.
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
