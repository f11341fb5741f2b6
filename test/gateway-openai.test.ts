/**
 * The official `openai` client against a running Tollgate and the built-in
 * mock channel: the four calls, streamed and not.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFixture, ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let client: OpenAI;
before(async () => {
  fx = await startFixture();
  client = new OpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1`, maxRetries: 0 });
});
after(() => fx.close());

test('chat completion, non-streamed, carries usage and gateway headers', async () => {
  const { data, response } = await client.chat.completions.create({ model: 'mock-gpt', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 12 }).withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.ok(data.choices[0].message.content!.length > 0);
  assert.equal(data.usage!.completion_tokens, 12);
  assert.ok(data.usage!.prompt_tokens > 0);
  assert.ok(response.headers.get('x-request-id'));
  const responseTime = response.headers.get('x-response-time-ms');
  assert.match(responseTime ?? '(missing)', /^\d+\.\d{2}$/, 'x-response-time-ms is present and a number of milliseconds');
});

test('streamed chat text equals the non-streamed text, and the injected usage chunk is filtered out', async () => {
  const params = { model: 'mock-gpt', messages: [{ role: 'user' as const, content: 'Tell me something' }], max_tokens: 20 };
  const whole = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({ ...params, stream: true });
  let text = '';
  let usageChunks = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usageChunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(usageChunks, 0, 'the client did not ask for usage, so it must not see the usage chunk');
});

test('streamed chat with include_usage passes the usage chunk through', async () => {
  const stream = await client.chat.completions.create({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
  let usage: OpenAI.CompletionUsage | null | undefined = null;
  for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
  assert.equal(usage?.completion_tokens, 5);
});

test('completions, streamed and not', async () => {
  const whole = await client.completions.create({ model: 'mock-gpt', prompt: 'Once upon a time', max_tokens: 8 });
  assert.equal(whole.object, 'text_completion');
  const stream = await client.completions.create({ model: 'mock-gpt', prompt: 'Once upon a time', max_tokens: 8, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
});

test('embeddings (the client asks for base64 and decodes it)', async () => {
  const res = await client.embeddings.create({ model: 'mock-embed', input: ['alpha', 'beta'] });
  assert.equal(res.data.length, 2);
  assert.equal(res.data[0].embedding.length, 8);
  assert.ok(res.usage.prompt_tokens > 0);
});

test('models.list shows the routed models', async () => {
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('mock-gpt') && ids.includes('mock-embed'));
});

test('usage records are written for each relayed request', async () => {
  await fx.tg.accounting!.writer.flush();
  const page = await fx.tg.store.usage.page({ userId: fx.userId, limit: 100 });
  assert.equal(page.records.length, 7, 'one record per relayed call (models.list is served by the gateway)');
  assert.ok(page.records.every((r) => r.status === 200 && r.outcome === 'ok' && r.attempts === 1));
});

test('metrics move with the requests served; /api/metrics needs the admin token', async () => {
  const metrics = await fetch(`${fx.url}/metrics`);
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  const served = text.split('\n').filter((l) => l.startsWith('tollgate_requests_total{') && l.includes('status="200"'));
  const total = served.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(total, 8, 'seven relayed calls and one models.list');
  assert.ok(!text.includes(fx.key), 'no key in metrics');
  const flushed = /^tollgate_writer_flushed_records_total (\d+)/m.exec(text);
  assert.equal(Number(flushed?.[1]), 7, 'the writer reports the records it committed');
  assert.equal((await fetch(`${fx.url}/api/metrics`)).status, 401);
  const stats = await fetch(`${fx.url}/api/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(stats.status, 200);
  const json = (await stats.json()) as any;
  assert.ok(json.overall.count >= 8);
});
