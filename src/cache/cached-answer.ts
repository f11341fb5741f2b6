/**
 * One stored answer of the response cache: the bytes the client received
 * (a JSON body, or the SSE stream of a streamed request, already in the
 * client's protocol), with what a hit needs to be recorded and priced — the
 * usage the original answer reported and the channel that served it.
 *
 * In Redis it is one value: a JSON head line, a newline, then the body bytes.
 */
import type { EntryCodec } from './two-level-cache.ts';

export interface CachedAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly stream: boolean;
  readonly body: Buffer;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly cachedTokens: number;
  readonly cacheWriteTokens: number;
  readonly reasoningTokens: number;
  /** The channel of the original answer, for its price; null for the built-in mock. */
  readonly channelId: number | null;
}

/** Bytes counted per entry beyond its body: the head, the key, lru-cache's own bookkeeping. */
const ENTRY_OVERHEAD = 256;
const VERSION = 1;

export const cachedAnswerCodec: EntryCodec<CachedAnswer> = {
  encode(answer, expiresAt) {
    const { body, ...head } = answer;
    const line = Buffer.from(JSON.stringify({ v: VERSION, expiresAt, ...head }) + '\n');
    return Buffer.concat([line, body], line.length + body.length);
  },
  decode(bytes) {
    const newline = bytes.indexOf(10);
    if (newline < 0) return null;
    let head: any;
    try {
      head = JSON.parse(bytes.subarray(0, newline).toString('utf8'));
    } catch {
      return null;
    }
    if (head === null || typeof head !== 'object' || head.v !== VERSION || typeof head.expiresAt !== 'number') return null;
    const { v: _v, expiresAt, ...rest } = head;
    return { value: { ...rest, body: bytes.subarray(newline + 1) } as CachedAnswer, expiresAt };
  },
  sizeOf: (answer) => answer.body.length + ENTRY_OVERHEAD,
};

/**
 * An answer the provider's own safety system cut or refused, in any of the
 * three protocols: finish_reason "content_filter" (OpenAI; also the Responses
 * API's incomplete reason), stop_reason "refusal" (Anthropic), a non-null
 * "refusal" text (OpenAI chat). Such an answer is never stored. Searched in
 * the bytes (no decoded copy); in generated text these quotes arrive escaped
 * (\"), so the text itself cannot match.
 */
const REFUSAL_MARKS = ['"content_filter"', ':"refusal"', ': "refusal"', '"refusal":"', '"refusal": "'];

export function isRefusedAnswer(body: Buffer): boolean {
  for (const mark of REFUSAL_MARKS) if (body.indexOf(mark) !== -1) return true;
  return false;
}
