/**
 * The prompt bound admission reserves for: never below the exact count of the
 * same body, never below what the tokenizer makes of any text (prose, code,
 * CJK, emoji, random bytes), and computed without loading the tokenizer.
 * Stream deltas are counted only when the count is asked for.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimatePromptTokens, promptTokenBound, type EstimateEndpoint } from '../src/metering/token-estimate.ts';
import { tokenizer, tokenizerLoaded } from '../src/metering/tokenizer.ts';
import { SseScanner } from '../src/providers/sse-scanner.ts';
import { dialectFor } from '../src/providers/index.ts';
import { OPENAI_CHAT_STREAM } from './support/sse-recordings.ts';

const texts = [
  'Hello',
  'The committee reviewed the proposal and asked for a revised budget by Friday.',
  'function f(x) { return x.map((y) => y * 2).filter(Boolean); } // <|endoftext|>',
  '東京都の天気は晴れです。明日は雨が降るでしょう。',
  '🙂🙃🤖👍🏽 flags: 🇫🇷🇯🇵',
  Array.from({ length: 500 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 94))).join(''),
  Array.from({ length: 300 }, (_, i) => String.fromCharCode(0x100 + ((i * 104729) % 0xd000))).join(''),
];

const bodies: Array<[EstimateEndpoint, unknown]> = [
  ['chat', { messages: texts.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content, name: i === 2 ? 'bob' : undefined })) }],
  ['chat', {
    messages: [{ role: 'user', content: [{ type: 'text', text: texts[1] }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] },
      { role: 'assistant', content: null, tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"東京"}' } }] }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  }],
  ['messages', { system: texts[3], messages: [{ role: 'user', content: [{ type: 'tool_result', content: texts[4] }] }] }],
  ['responses', { instructions: texts[2], input: [{ content: texts[5] }, { type: 'function_call', name: 'f', arguments: '{}' }, { type: 'function_call_output', output: texts[6] }] }],
  ['completions', { prompt: [texts[1], [1, 2, 3], 7] }],
  ['embeddings', { input: texts }],
];

test('the bound is computed without loading the tokenizer', () => {
  for (const [endpoint, body] of bodies) assert.ok(promptTokenBound(body, endpoint) > 0);
  assert.equal(tokenizerLoaded(), false);
});

test('a stream whose upstream reports usage is never tokenized; the count is taken when asked for', () => {
  let calls = 0;
  const scanner = new SseScanner(dialectFor('openai').streamEvents, false, (text) => {
    calls++;
    return text.length;
  });
  scanner.push(Buffer.from(OPENAI_CHAT_STREAM));
  scanner.end();
  assert.equal(calls, 0, 'nothing counted while streaming');
  assert.ok(scanner.countedCompletionTokens > 0);
  assert.ok(calls > 0);
});

test('the bound is at least the exact count of every body', () => {
  for (const [endpoint, body] of bodies) {
    const bound = promptTokenBound(body, endpoint);
    const exact = estimatePromptTokens(body, endpoint);
    assert.ok(bound >= exact, `${endpoint}: bound ${bound} < estimate ${exact}`);
  }
});

test('the bound of a text is at least what the tokenizer counts, whatever the script', () => {
  for (const text of texts) {
    const bound = promptTokenBound({ prompt: text }, 'completions');
    const exact = tokenizer().countTokens(text, { disallowedSpecial: new Set() });
    assert.ok(bound >= exact, `bound ${bound} < ${exact} for ${text.slice(0, 20)}`);
  }
});

test('hostile nesting is bounded without recursion', () => {
  let schema: unknown = { type: 'string' };
  for (let i = 0; i < 20_000; i++) schema = { type: 'object', properties: { x: schema } };
  const n = promptTokenBound({ messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'f', parameters: schema } }] }, 'chat');
  assert.ok(Number.isSafeInteger(n) && n > 20_000, `bound ${n}`);
  let content: unknown = 'leaf text';
  for (let i = 0; i < 20_000; i++) content = [{ type: 'tool_result', tool_use_id: `t${i}`, content }];
  assert.ok(promptTokenBound({ messages: [{ role: 'user', content }] }, 'messages') > 20_000);
});
