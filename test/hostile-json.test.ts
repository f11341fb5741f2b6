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
  ['messages: deep metadata', '/v1/messages', `{"model":"mock-gpt","max_tokens":16,"metadata":${deepObject('m')},"messages":[{"role":"user","content":"hi"}]}`],
];

for (const [name, path, body] of cases) {
  test(`deep JSON, ${name}: a 4xx or an answer, never a 5xx`, async () => {
    const r = await post(path, body);
    assert.ok(r.status < 500, `${name}: ${r.status} ${JSON.stringify(r.json)?.slice(0, 200)}`);
  });
}

test('deep stream_options: a clear 400 naming the nesting', async () => {
  const r = await post('/v1/chat/completions', cases[0][2]);
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /nested too deeply/);
});
