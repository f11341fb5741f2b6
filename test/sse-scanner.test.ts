/**
 * The SSE scanner at every split point of a recorded stream: however the
 * upstream's bytes are cut into chunks, the client gets the same bytes (the
 * stream itself, or the stream minus the usage event the gateway asked for),
 * and the usage and counted tokens come out the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseScanner } from '../src/providers/sse-scanner.ts';
import { dialectFor } from '../src/providers/index.ts';
import type { StreamEvents } from '../src/providers/index.ts';
import {
  ANTHROPIC_DELTAS, ANTHROPIC_MESSAGES_STREAM, ANTHROPIC_USAGE,
  OPENAI_CHAT_STREAM, OPENAI_DELTAS, OPENAI_USAGE, OPENAI_USAGE_EVENT,
} from './support/sse-recordings.ts';

/** Counts characters: exact enough to tell a mis-decoded escape or split character. */
const countChars = (text: string) => text.length;

interface Scan { forwarded: Buffer; usage: unknown; counted: number }

function scan(events: StreamEvents, filter: boolean, chunks: readonly Buffer[]): Scan {
  const scanner = new SseScanner(events, filter, countChars);
  const out: Buffer[] = [];
  for (const c of chunks) out.push(scanner.push(c));
  const rest = scanner.end();
  if (rest !== null) out.push(rest);
  return { forwarded: Buffer.concat(out), usage: scanner.usage, counted: scanner.countedCompletionTokens };
}

/** Every two-way split, the byte-at-a-time split, and a spread of three-way splits. */
function* splits(input: Buffer): Generator<Buffer[]> {
  for (let i = 0; i <= input.length; i++) yield [input.subarray(0, i), input.subarray(i)];
  yield Array.from(input, (_, i) => input.subarray(i, i + 1));
  for (let i = 1; i < input.length; i += 17) {
    for (const gap of [1, 2, 5, 64, 300]) {
      const j = Math.min(input.length, i + gap);
      yield [input.subarray(0, i), input.subarray(i, j), input.subarray(j)];
    }
  }
}

function checkEverySplit(name: string, input: Buffer, events: StreamEvents, filter: boolean, expected: Buffer, usage: object, counted: number): void {
  let n = 0;
  for (const chunks of splits(input)) {
    const r = scan(events, filter, chunks);
    const at = chunks.map((c) => c.length).join('+');
    assert.ok(r.forwarded.equals(expected), `${name}: forwarded bytes differ for chunks ${at}`);
    assert.deepEqual(r.usage, usage, `${name}: usage for chunks ${at}`);
    assert.equal(r.counted, counted, `${name}: counted tokens for chunks ${at}`);
    n++;
  }
  assert.ok(n > input.length, 'every split point was tried');
}

const openai = dialectFor('openai').streamEvents;
const anthropic = dialectFor('anthropic').streamEvents;
const chars = (deltas: readonly string[]) => deltas.reduce((sum, d) => sum + d.length, 0);

test('OpenAI stream, usage asked for by the gateway: the usage event is removed at every split point', () => {
  const input = Buffer.from(OPENAI_CHAT_STREAM);
  const expected = Buffer.from(OPENAI_CHAT_STREAM.replace(OPENAI_USAGE_EVENT, ''));
  assert.ok(expected.length < input.length);
  checkEverySplit('openai filtered', input, openai, true, expected, OPENAI_USAGE, chars(OPENAI_DELTAS));
});

test('OpenAI stream, usage asked for by the client: forwarded untouched at every split point', () => {
  const input = Buffer.from(OPENAI_CHAT_STREAM);
  checkEverySplit('openai passthrough', input, openai, false, input, OPENAI_USAGE, chars(OPENAI_DELTAS));
});

test('unfiltered chunks are forwarded as the very same buffers', () => {
  const input = Buffer.from(OPENAI_CHAT_STREAM);
  const scanner = new SseScanner(openai, false, countChars);
  const a = input.subarray(0, 100);
  const b = input.subarray(100);
  assert.equal(scanner.push(a), a);
  assert.equal(scanner.push(b), b);
  assert.equal(scanner.end(), null);
});

test('Anthropic stream: usage from message_start and message_delta, bytes untouched at every split point', () => {
  const input = Buffer.from(ANTHROPIC_MESSAGES_STREAM);
  const counted = chars(ANTHROPIC_DELTAS);
  checkEverySplit('anthropic', input, anthropic, false, input, ANTHROPIC_USAGE, counted);
  // Anthropic has no usage-only event: even asked to filter, nothing is removed.
  checkEverySplit('anthropic filter', input, anthropic, true, input, ANTHROPIC_USAGE, counted);
});

test('a stream cut before its usage event is metered by the deltas it carried', () => {
  const cut = OPENAI_CHAT_STREAM.slice(0, OPENAI_CHAT_STREAM.indexOf(OPENAI_USAGE_EVENT));
  const r = scan(openai, true, [Buffer.from(cut)]);
  assert.equal(r.usage, null);
  assert.equal(r.counted, chars(OPENAI_DELTAS));
  assert.equal(r.forwarded.toString(), cut);
});

test('Anthropic stream with prompt caching: cache counts from message_start kept, restated or replaced by message_delta, never double-counted', () => {
  const start = (usage: object) => `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-x', usage } })}\n\n`;
  const delta = (usage: object) => `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage })}\n\n`;
  const stream = (a: object, b: object) => Buffer.from(start(a) + ANTHROPIC_DELTAS.map((t) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(t)}}}\n\n`).join('') + delta(b));
  const cachedStart = { input_tokens: 6, cache_creation_input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 1 };
  // Prompt = input_tokens + cache reads + cache writes (Anthropic counts both outside input_tokens).
  const expected = { promptTokens: 3006, completionTokens: 15, cachedTokens: 2000, cacheWriteTokens: 1000, reasoningTokens: 0, invalid: false, promptReported: true, completionReported: true };
  const counted = chars(ANTHROPIC_DELTAS);
  const cases: Array<[string, object, object, object]> = [
    ['delta with output only (Anthropic\'s classic shape)', cachedStart, { output_tokens: 15 }, expected],
    ['delta restating every input field (cumulative usage)', cachedStart, { input_tokens: 6, cache_creation_input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 15 }, expected],
    ['delta restating input_tokens only: the start\'s cache counts stay', cachedStart, { input_tokens: 6, output_tokens: 15 }, expected],
    ['delta with null input fields', cachedStart, { input_tokens: null, cache_read_input_tokens: null, output_tokens: 15 }, expected],
    // Seen from Anthropic-compatible servers: zeros in message_delta for what they do not restate.
    ['delta with placeholder zeros: the start\'s counts stay', cachedStart, { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 15 }, expected],
    ['delta with a cache count only: that part replaced, the uncached input kept', cachedStart, { cache_read_input_tokens: 2500, output_tokens: 15 }, { ...expected, promptTokens: 3506, cachedTokens: 2500 }],
    // Anthropic-compatible servers over OpenAI-style upstreams know the input only at the end.
    ['input known only at the end', { input_tokens: 0, output_tokens: 0 }, { input_tokens: 6, cache_creation_input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 15 }, expected],
  ];
  for (const [name, a, b, usage] of cases) {
    const input = stream(a, b);
    checkEverySplit(name, input, anthropic, false, input, usage, counted);
  }
});

test('OpenAI chat and Responses streams: cached and reasoning tokens read from the usage event, inside the prompt and completion', () => {
  const chatStream = Buffer.from(
    'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Oslo"},"finish_reason":null}],"usage":null}\n\n' +
    'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,' +
    '"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":192,"audio_tokens":0}}}\n\n' +
    'data: [DONE]\n\n',
  );
  const expected = { promptTokens: 2006, completionTokens: 300, cachedTokens: 1920, cacheWriteTokens: 0, reasoningTokens: 192, invalid: false, promptReported: true, completionReported: true };
  assert.deepEqual(scan(openai, false, [chatStream]).usage, expected);
  const responsesStream = Buffer.from(
    'event: response.created\ndata: {"type":"response.created","response":{"id":"r","status":"in_progress","usage":null}}\n\n' +
    'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"Oslo"}\n\n' +
    'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","status":"completed","usage":{"input_tokens":2006,' +
    '"input_tokens_details":{"cached_tokens":1920},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":192},"total_tokens":2306}}}\n\n',
  );
  assert.deepEqual(scan(dialectFor('responses').streamEvents, false, [responsesStream]).usage, expected);
});
