/** Provider knowledge as data: the registry, auth headers, request preparation, usage and error reading per dialect. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dialectFor, providerFor } from '../src/providers/index.ts';
import { usageFromBody } from '../src/providers/token-usage.ts';

const openai = dialectFor('openai');
const anthropic = dialectFor('anthropic');

test('registry: the protocols each channel type serves, and how its keys authenticate', () => {
  assert.deepEqual(providerFor('openai').protocols, ['openai', 'responses']);
  assert.deepEqual(providerFor('anthropic').protocols, ['anthropic']);
  assert.deepEqual([...providerFor('mock').protocols].sort(), ['anthropic', 'openai', 'responses']);
  assert.deepEqual(providerFor('openai').auth('sk-1'), { name: 'authorization', value: 'Bearer sk-1' });
  assert.deepEqual(providerFor('mock').auth('m'), { name: 'authorization', value: 'Bearer m' });
  assert.deepEqual(providerFor('anthropic').auth('sk-ant'), { name: 'x-api-key', value: 'sk-ant' });
  assert.throws(() => providerFor('bogus' as never), /Unknown channel type 'bogus'/);
});

test('openai: the client bytes go untouched unless renamed or stream usage must be asked for', () => {
  const raw = '{ "model":"m","stream":true,"messages":[{"role":"user","content":"hi"}] }';
  const body = Buffer.from(raw);
  const json = JSON.parse(raw);
  assert.equal(openai.upstreamBody(body, json, undefined, false), body, 'the same buffer');
  assert.equal(openai.upstreamBody(body, json, undefined, true).toString(), '{"stream_options":{"include_usage":true}, "model":"m","stream":true,"messages":[{"role":"user","content":"hi"}] }', 'a splice, not a re-serialisation');
  assert.deepEqual(JSON.parse(openai.upstreamBody(body, json, 'gpt-x', true).toString()), { ...json, model: 'gpt-x', stream_options: { include_usage: true } });
  const withOptions = { ...json, stream_options: { continuous_usage_stats: false } };
  assert.deepEqual(JSON.parse(openai.upstreamBody(Buffer.from(JSON.stringify(withOptions)), withOptions, undefined, true).toString()).stream_options, { continuous_usage_stats: false, include_usage: true });
  assert.equal(openai.streamCarriesUsage(json), false);
  assert.equal(openai.streamCarriesUsage({ ...json, stream_options: { include_usage: true } }), true);
});

test('openai and anthropic: upstream paths and headers', () => {
  assert.equal(openai.upstreamPath('', '/chat/completions'), '/v1/chat/completions');
  assert.equal(openai.upstreamPath('/openai/v1', '/chat/completions'), '/openai/v1/chat/completions');
  assert.deepEqual(openai.upstreamHeaders({ 'anthropic-version': 'x' }, true, 'authorization', 'Bearer k'), { 'content-type': 'application/json', accept: 'text/event-stream', authorization: 'Bearer k' });
  assert.deepEqual(anthropic.upstreamHeaders({}, false, 'x-api-key', 'k'), { 'content-type': 'application/json', accept: 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' });
  const passed = anthropic.upstreamHeaders({ 'anthropic-version': '2024-01-01', 'anthropic-beta': 'tools-2024' }, true, 'authorization', 'Bearer m');
  assert.deepEqual([passed['anthropic-version'], passed['anthropic-beta'], passed.authorization], ['2024-01-01', 'tools-2024', 'Bearer m']);
});

test('anthropic: streams always carry usage, so only a rename changes the body', () => {
  const json = { model: 'claude', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
  const body = Buffer.from(JSON.stringify(json));
  assert.equal(anthropic.streamCarriesUsage(json), true);
  assert.equal(anthropic.upstreamBody(body, json, undefined, false), body);
  assert.deepEqual(JSON.parse(anthropic.upstreamBody(body, json, 'claude-x', false).toString()), { ...json, model: 'claude-x' });
});

test('usage from a body tail under either naming, and error messages from either error shape', () => {
  assert.deepEqual(usageFromBody(Buffer.from('{"x":"\\"usage\\":{}","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}')), { promptTokens: 3, completionTokens: 4, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, invalid: false, promptReported: true, completionReported: true });
  assert.deepEqual(anthropic.bodyUsage(Buffer.from('{"content":[{"type":"text","text":"}"}],"usage":{"input_tokens":5,"output_tokens":6}}')), { promptTokens: 5, completionTokens: 6, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, invalid: false, promptReported: true, completionReported: true });
  assert.equal(openai.bodyUsage(Buffer.from('{"usage":{"prompt_tokens":3')), null, 'cut off');
  assert.equal(openai.errorMessage('{"error":{"message":"Incorrect API key"}}'), 'Incorrect API key');
  assert.equal(anthropic.errorMessage('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'), 'Overloaded');
  assert.equal(anthropic.errorMessage('<html>bad gateway</html>'), '<html>bad gateway</html>');
});
