/**
 * Deterministic completion text and prompt token counts for the mock upstream.
 *
 * The completion for a request is the first N words of a fixed cycle. Every word is
 * a single token in both cl100k_base and o200k_base, with or without a leading
 * space, so `completion_tokens === N` holds for any tokenizer a gateway uses to
 * re-count the text (checked over N = 4096 for both encodings).
 */
import { tokenizer } from '../metering/tokenizer.ts';

const WORDS: readonly string[] = (
  'the of and to in is that for it with as was on be at by this from or have an are but ' +
  'not you all can had her one our out day get has him his how man new now old see two way ' +
  'who did its let put say she too use time year people good first work life world back over ' +
  'only think also after well still most even much place great small hand high last right long ' +
  'part large state never under water sound light point house story system'
).split(' ');

/** Completion length when the request names none. */
export const DEFAULT_COMPLETION_TOKENS = 16;
/** Longest completion the mock produces; larger `max_tokens` values are capped, not rejected. */
export const MAX_COMPLETION_TOKENS = 4096;

// OpenAI's cookbook counts 3 tokens of framing per chat message and 3 more to prime
// the reply; the numbers only need to be stable and plausible, not exact.
const PER_MESSAGE_TOKENS = 3;
const REPLY_PRIMING_TOKENS = 3;

/**
 * Splits the N-word completion into at most `chunks` contiguous non-empty pieces whose
 * concatenation is the whole completion (fewer pieces when N < chunks).
 */
export function completionPieces(words: number, chunks: number): string[] {
  const count = Math.min(words, chunks);
  const pieces: string[] = [];
  let word = 0;
  for (let i = 0; i < count; i++) {
    const end = Math.floor(((i + 1) * words) / count);
    let piece = '';
    for (; word < end; word++) piece += word === 0 ? WORDS[0] : ' ' + WORDS[word % WORDS.length];
    pieces.push(piece);
  }
  return pieces;
}

/**
 * Reads `max_completion_tokens` / `max_tokens` from a request body: the completion
 * length (capped), or -1 when the value is present but not a positive number.
 */
export function completionLength(body: Record<string, unknown>): number {
  const value = body.max_completion_tokens ?? body.max_tokens;
  if (value === undefined || value === null) return DEFAULT_COMPLETION_TOKENS;
  if (typeof value !== 'number' || !(value >= 1)) return -1;
  return Math.min(Math.floor(value), MAX_COMPLETION_TOKENS);
}

/** Tokens in a message `content`: a string, or an array of parts whose `text` fields count. */
export function countContentTokens(content: unknown): number {
  if (typeof content === 'string') return content.length === 0 ? 0 : tokenizer().countTokens(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (typeof part === 'string') tokens += tokenizer().countTokens(part);
    else if (part !== null && typeof part === 'object' && typeof part.text === 'string') {
      tokens += tokenizer().countTokens(part.text);
    }
  }
  return tokens;
}

/** Prompt tokens of a chat `messages` array (OpenAI or Anthropic shape), plus an optional system prompt. */
export function countMessagesTokens(messages: readonly unknown[], system?: unknown): number {
  let tokens = REPLY_PRIMING_TOKENS;
  if (system !== undefined) tokens += PER_MESSAGE_TOKENS + countContentTokens(system);
  for (const message of messages) {
    tokens += PER_MESSAGE_TOKENS;
    if (message !== null && typeof message === 'object') {
      tokens += countContentTokens((message as { content?: unknown }).content);
    }
  }
  return tokens;
}

/**
 * Number of separate inputs in a completions `prompt` or embeddings `input`
 * (string, string[], token ids number[], or number[][]); 0 when the shape is invalid.
 */
export function inputCount(input: unknown): number {
  if (typeof input === 'string') return 1;
  if (!Array.isArray(input) || input.length === 0) return 0;
  if (typeof input[0] === 'number') return input.every(isTokenId) ? 1 : 0;
  for (const item of input) {
    if (typeof item !== 'string' && !(Array.isArray(item) && item.every(isTokenId))) return 0;
  }
  return input.length;
}

/** The i-th input of a shape accepted by {@link inputCount}. */
export function inputAt(input: unknown, i: number): string | readonly number[] {
  if (typeof input === 'string') return input;
  const list = input as unknown[];
  return typeof list[0] === 'number' ? (list as number[]) : (list[i] as string | number[]);
}

/** Tokens of one input: counted for text, the length for token ids. */
export function countInputTokens(input: string | readonly number[]): number {
  if (typeof input !== 'string') return input.length;
  return input.length === 0 ? 0 : tokenizer().countTokens(input);
}

function isTokenId(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
