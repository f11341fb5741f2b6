/**
 * Deeply nested client JSON on every hot endpoint: any client input gets a
 * 4xx or an answer, never a 5xx (no stack overflow in token counting, no
 * serialisation error taken for an upstream failure).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture();
  // Channels that rename the model: the whole body is re-serialised for them.
  for (const [name, type, model] of [['renaming-openai', 'openai', 'renamed-gpt'], ['renaming-anthropic', 'anthropic', 'renamed-claude']] as const) {
    const c = await fx.tg.store.channels.add({ name, type, baseUrl: fx.tg.mock!.url, models: [{ model, upstreamModel: 'mock-gpt' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-upstream-renaming');
    await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  }
  await fx.tg.sync.pollNow();
});
after(() => fx.close());

const DEPTH = 20_000;
const deepArray = (leaf: string) => '['.repeat(DEPTH) + leaf + ']'.repeat(DEPTH);
const deepObject = (key: string) => `{"${key}":`.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);
const deepToolResult = () => {
  let content = '"leaf"';
  for (let i = 0; i < DEPTH; i++) content = `[{"type":"tool_result","tool_use_id":"t","content":${content}}]`;
  return content;
};

async function post(path: string, body: string): Promise<{ status: number; json: any }> {
  const r = await fetch(`${fx.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body,
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

const cases: Array<[string, string, string]> = [
  ['chat: deep stream_options on a stream (re-serialised to ask for usage)', '/v1/chat/completions', `{"model":"mock-gpt","stream":true,"stream_options":${deepObject('x')},"messages":[{"role":"user","content":"hi"}]}`],
  ['chat: deep tool_result content', '/v1/chat/completions', `{"model":"mock-gpt","messages":[{"role":"user","content":${deepToolResult()}}]}`],
  ['chat: deep tools schema', '/v1/chat/completions', `{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deepObject('p')}}}]}`],
  ['chat: deep content array', '/v1/chat/completions', `{"model":"mock-gpt","messages":[{"role":"user","content":${deepArray('"x"')}}]}`],
  ['completions: deep prompt', '/v1/completions', `{"model":"mock-gpt","prompt":${deepArray('"x"')}}`],
  ['embeddings: deep input', '/v1/embeddings', `{"model":"mock-embed","input":${deepArray('"x"')}}`],
  ['messages: deep tool_result content', '/v1/messages', `{"model":"mock-gpt","max_tokens":16,"messages":[{"role":"user","content":${deepToolResult()}}]}`],
  ['chat, renamed model: deep tools schema', '/v1/chat/completions', `{"model":"renamed-gpt","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deepObject('p')}}}]}`],
  ['chat, renamed model: deep content array, streamed', '/v1/chat/completions', `{"model":"renamed-gpt","stream":true,"messages":[{"role":"user","content":${deepArray('"x"')}}]}`],
  ['completions, renamed model: deep prompt', '/v1/completions', `{"model":"renamed-gpt","prompt":${deepArray('"x"')}}`],
  ['completions: deep stream_options on a stream', '/v1/completions', `{"model":"mock-gpt","stream":true,"stream_options":${deepObject('x')},"prompt":"hi"}`],
  ['embeddings, renamed model: deep input', '/v1/embeddings', `{"model":"renamed-gpt","input":${deepArray('"x"')}}`],
  ['messages, renamed model: deep tool_result content', '/v1/messages', `{"model":"renamed-claude","max_tokens":16,"messages":[{"role":"user","content":${deepToolResult()}}]}`],
  ['messages, renamed model: deep metadata, streamed', '/v1/messages', `{"model":"renamed-claude","max_tokens":16,"stream":true,"metadata":${deepObject('m')},"messages":[{"role":"user","content":"hi"}]}`],
  ['chat: odd scalars (huge number, lone surrogate, NUL, 1e400)', '/v1/chat/completions', `{"model":"renamed-gpt","temperature":1e400,"n":123456789012345678901234567890,"user":"\\ud800\\u0000","messages":[{"role":"user","content":"\\udfff"}]}`],
  ['chat: duplicate keys and a __proto__ key', '/v1/chat/completions', `{"model":"renamed-gpt","model":"renamed-gpt","__proto__":{"admin":true},"messages":[{"role":"user","content":"hi"}]}`],
  ['messages: deep metadata', '/v1/messages', `{"model":"mock-gpt","max_tokens":16,"metadata":${deepObject('m')},"messages":[{"role":"user","content":"hi"}]}`],
];

for (const [name, path, body] of cases) {
  test(`deep JSON, ${name}: a 4xx or an answer, never a 5xx`, async () => {
    const r = await post(path, body);
    assert.ok(r.status < 500, `${name}: ${r.status} ${JSON.stringify(r.json)?.slice(0, 200)}`);
    // A renaming channel needs the body re-serialised, which a deep body cannot be: the client's 400.
    if (name.includes('renamed model')) assert.match(r.json.error.message, /nested too deeply/);
  });
}

test('deep stream_options: a clear 400 naming the nesting', async () => {
  const r = await post('/v1/chat/completions', cases[0][2]);
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /nested too deeply/);
});
