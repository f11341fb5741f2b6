/**
 * Usage extraction that does not depend on formatting or position, bad usage
 * counts that cannot corrupt the books, and an error event inside a 200
 * stream recorded as an upstream error. The upstream is a small test server
 * whose answer shape is chosen by the model name.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const sse = (res: ServerResponse, lines: string[]) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const l of lines) res.write(`data: ${l}\n\n`);
  res.end('data: [DONE]\n\n');
};
const chunked = (res: ServerResponse, body: string, pieces: number) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  const size = Math.ceil(body.length / pieces);
  let i = 0;
  const next = () => {
    if (i >= body.length) return res.end();
    res.write(body.slice(i, (i += size)));
    setTimeout(next, 5);
  };
  next();
};
const answer = (text: string) => `{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "${text}"}, "finish_reason": "stop"}]`;

const VARIANTS: Record<string, (res: ServerResponse) => void> = {
  // Python's json.dumps spacing, usage event the gateway asked for.
  'spaced-stream': (res) => sse(res, ['{"id": "x", "choices": [{"index": 0, "delta": {"content": "hello there"}}]}', '{"id": "x", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 33}}']),
  // Usage first, split across reads.
  'usage-first': (res) => chunked(res, `{"usage": {"prompt_tokens": 5, "completion_tokens": 21}, ${answer('hi').slice(1)}}`, 6),
  // No usage at all: the answer's text is counted.
  'no-usage': (res) => chunked(res, `${answer('one two three four five six seven eight')}}`, 3),
  'stream-error': (res) => sse(res, ['{"id":"x","choices":[{"index":0,"delta":{"content":"partial"}}]}', '{"error":{"message":"The server is overloaded","type":"server_error"}}']),
  'anthropic-stream-error': (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"x","usage":{"input_tokens":5,"output_tokens":1}}}\n\n');
    res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial"}}\n\n');
    res.end('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded: the servers are busy right now, please try again in a little while"}}\n\n');
  },
  'huge-usage': (res) => chunked(res, `${answer('a b c')}, "usage": {"prompt_tokens": 3, "completion_tokens": 3000000000}}`, 1),
  'string-usage': (res) => chunked(res, `${answer('a b c')}, "usage": {"prompt_tokens": "4", "completion_tokens": "12"}}`, 1),
  'fraction-usage': (res) => chunked(res, `${answer('a b c')}, "usage": {"prompt_tokens": 4, "completion_tokens": 1.5}}`, 1),
  'negative-usage': (res) => chunked(res, `${answer('a b c')}, "usage": {"prompt_tokens": 4, "completion_tokens": -3}}`, 1),
};

let fx: Fixture;
let upstream: Server;
before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => VARIANTS[JSON.parse(body).model](res));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  fx = await startFixture();
  const channel = await fx.tg.store.channels.add({
    name: 'formats', type: 'openai', baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
    models: Object.keys(VARIANTS).map((model) => ({ model, upstreamModel: model })),
  });
  await fx.tg.store.channels.addKey(channel.id, 'sk-formats-000000');
  const anthropic = await fx.tg.store.channels.add({
    name: 'formats-anthropic', type: 'anthropic', baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    models: [{ model: 'anthropic-stream-error', upstreamModel: 'anthropic-stream-error' }],
  });
  await fx.tg.store.channels.addKey(anthropic.id, 'sk-ant-formats-000000');
  // 1 micro-credit per token either way.
  for (const model of Object.keys(VARIANTS)) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 1_000_000, free: false });
  await fx.tg.store.users.credit(fx.userId, 10_000_000);
  await fx.tg.sync.pollNow();
});
after(async () => {
  await fx.close();
  await new Promise((r) => upstream.close(r));
});

async function call(model: string, stream = false, path = '/v1/chat/completions'): Promise<{ status: number; text: string; record: any }> {
  const r = await fetch(`${fx.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await r.text();
  await fx.tg.accounting!.writer.flush();
  const page = await fx.tg.store.usage.page({ userId: fx.userId, model, limit: 1 });
  return { status: r.status, text, record: page.records[0] };
}

test('streamed usage spaced like Python json.dumps: billed from the upstream, the injected usage event filtered', async () => {
  const r = await call('spaced-stream', true);
  assert.equal(r.status, 200);
  assert.equal(r.record.completionTokens, 33);
  assert.equal(r.record.promptTokens, 7);
  assert.ok(!r.text.includes('"usage"'), `the client did not ask for usage: ${r.text}`);
});

test('non-streamed usage placed first and split across reads is found', async () => {
  const r = await call('usage-first');
  assert.equal(r.record.completionTokens, 21);
  assert.equal(r.record.promptTokens, 5);
});

test('non-streamed answer without usage: the completion text is counted, not billed as 0', async () => {
  const r = await call('no-usage');
  assert.ok(r.record.completionTokens >= 8, `counted ${r.record.completionTokens}`);
  assert.ok(r.record.costMicros > 0);
});

test('an error event inside a 200 stream: the client keeps its 200, the record says upstream_error', async () => {
  const r = await call('stream-error', true);
  assert.equal(r.status, 200);
  assert.equal(r.record.outcome, 'upstream_error');
  assert.equal(r.record.errorClass, 'stream_error');
  assert.ok(r.record.completionTokens <= 2, `only "partial" is billed, not the error text: ${r.record.completionTokens}`);
});

test('an Anthropic error event inside a 200 stream: upstream_error, the error text not billed', async () => {
  const r = await call('anthropic-stream-error', true, '/v1/messages');
  assert.equal(r.status, 200);
  assert.ok(r.text.includes('event: error'), 'the client sees the error event');
  assert.equal(r.record.outcome, 'upstream_error');
  assert.equal(r.record.errorClass, 'stream_error');
  assert.ok(r.record.completionTokens <= 2, `only "partial" is billed, not the error text: ${r.record.completionTokens}`);
});

test('numeric strings are read and fractions round up', async () => {
  assert.equal((await call('string-usage')).record.completionTokens, 12);
  assert.equal((await call('fraction-usage')).record.completionTokens, 2);
});

test('unusable counts (3e9 tokens, negative): marked usage_invalid, billed on the gateway count; store and ledger agree', async () => {
  for (const model of ['huge-usage', 'negative-usage']) {
    const r = await call(model);
    assert.equal(r.record.errorClass, 'usage_invalid', model);
    assert.ok(r.record.completionTokens > 0 && r.record.completionTokens < 100, `${model}: ${r.record.completionTokens}`);
  }
  await fx.tg.accounting!.writer.flush();
  const stored = (await fx.tg.store.users.byId(fx.userId))!.balanceMicros;
  const live = fx.tg.accounting!.ledger.snapshot(fx.userId)!.balanceMicros;
  assert.equal(live, stored, 'the live ledger and the store agree');
  const all = await fx.tg.store.usage.page({ userId: fx.userId, limit: 1000 });
  const spent = all.records.reduce((sum, rec) => sum + rec.costMicros, 0);
  assert.equal(stored, 10_000_000 - spent);
});
