/**
 * Stored Responses API objects through the gateway: GET/DELETE /v1/responses/{id},
 * POST …/cancel and GET …/input_items go to the channel that created the
 * response, for its owner only; the mapping is on the usage record, so it
 * survives a restart. Real HTTP against the mock upstream, which keeps what it created.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let openai: MockUpstream;
let anthropic: MockUpstream;
let bob: { key: string };
/** The gateway started again on fx's data dir by the restart test. */
let restarted: Fixture | null = null;
let openaiChannelId: number;

before(async () => {
  fx = await startFixture();
  openai = await startMockUpstream({ chunks: 3 });
  anthropic = await startMockUpstream({ chunks: 3 });
  const o = await fx.tg.store.channels.add({ name: 'oai', type: 'openai', baseUrl: openai.url, models: [{ model: 'gpt-r', upstreamModel: 'gpt-upstream' }] });
  await fx.tg.store.channels.addKey(o.id, 'sk-openai-upstream');
  openaiChannelId = o.id;
  const a = await fx.tg.store.channels.add({ name: 'claude', type: 'anthropic', baseUrl: anthropic.url, models: [{ model: 'claude-r', upstreamModel: 'claude-upstream' }] });
  await fx.tg.store.channels.addKey(a.id, 'sk-ant-upstream');
  for (const model of ['gpt-r', 'claude-r']) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  await fx.tg.sync.pollNow();
  bob = await fx.newUser('bob');
});
after(async () => {
  await restarted?.tg.close();
  await fx.close();
  await openai.close();
  await anthropic.close();
});

const call = (method: string, path: string, key = fx.key, body?: unknown) => fetch(`${fx.url}${path}`, {
  method,
  headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

async function create(body: Record<string, unknown>): Promise<any> {
  const r = await call('POST', '/v1/responses', fx.key, body);
  assert.equal(r.status, 200);
  return r.json();
}

test('a created response is retrieved through the gateway, from its channel with its key', async () => {
  const created = await create({ model: 'gpt-r', input: 'Hello there' });
  assert.match(created.id, /^resp_/);
  const r = await call('GET', `/v1/responses/${created.id}`);
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), created);
  assert.equal(openai.stats.lastRequest?.path, `/v1/responses/${created.id}`);
  assert.equal(openai.stats.lastRequest?.headers.authorization, 'Bearer sk-openai-upstream');
});

test('a streamed response is retrieved by the id of its response.created event', async () => {
  const r = await call('POST', '/v1/responses', fx.key, { model: 'gpt-r', input: 'Stream please', stream: true });
  assert.equal(r.status, 200);
  const text = await r.text();
  const created = JSON.parse(text.split('\n').find((l) => l.startsWith('data:'))!.slice(5));
  assert.equal(created.type, 'response.created');
  const id = created.response.id;
  const got = await call('GET', `/v1/responses/${id}`);
  assert.equal(got.status, 200);
  const object = await got.json();
  assert.equal(object.id, id);
  assert.equal(object.status, 'completed');
});

test("another user's response and an unknown id are the same 404, in OpenAI's error shape", async () => {
  const created = await create({ model: 'gpt-r', input: 'Mine' });
  const before = openai.stats.requests;
  for (const [path, key] of [[`/v1/responses/${created.id}`, bob.key], ['/v1/responses/resp_does_not_exist', fx.key]] as const) {
    const r = await call('GET', path, key);
    assert.equal(r.status, 404);
    const body = await r.json();
    assert.equal(body.error.code, 'response_not_found');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /No response with id 'resp_/);
  }
  assert.equal((await call('DELETE', `/v1/responses/${created.id}`, bob.key)).status, 404);
  assert.equal(openai.stats.requests, before, 'nothing was asked of the upstream');
});

test('without a key: 401; a wrong method: 405; an unknown sub-path: 404 unknown_url', async () => {
  assert.equal((await fetch(`${fx.url}/v1/responses/resp_x`)).status, 401);
  assert.equal((await call('PUT', '/v1/responses/resp_x')).status, 405);
  const r = await call('GET', '/v1/responses/resp_x/other');
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.code, 'unknown_url');
});

test('DELETE is relayed; a GET after it is the upstream 404, relayed', async () => {
  const created = await create({ model: 'gpt-r', input: 'Delete me' });
  const del = await call('DELETE', `/v1/responses/${created.id}`);
  assert.equal(del.status, 200);
  assert.deepEqual(await del.json(), { id: created.id, object: 'response', deleted: true });
  const r = await call('GET', `/v1/responses/${created.id}`);
  assert.equal(r.status, 404);
  assert.match((await r.json()).error.message, /Response with id '.*' not found/, 'the upstream message, untouched');
});

test('cancel and input_items (with its query string) are relayed', async () => {
  const background = await create({ model: 'gpt-r', input: [{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }], background: true });
  const cancelled = await call('POST', `/v1/responses/${background.id}/cancel`);
  assert.equal(cancelled.status, 200);
  assert.equal((await cancelled.json()).status, 'cancelled');
  const items = await call('GET', `/v1/responses/${background.id}/input_items?order=asc&limit=1`);
  assert.equal(items.status, 200);
  const page = await items.json();
  assert.equal(page.object, 'list');
  assert.deepEqual(page.data.map((i: any) => i.content), ['one']);
  assert.equal(page.has_more, true);
  assert.equal(openai.stats.lastRequest?.path, `/v1/responses/${background.id}/input_items`);
  const plain = await create({ model: 'gpt-r', input: 'not in the background' });
  const refused = await call('POST', `/v1/responses/${plain.id}/cancel`);
  assert.equal(refused.status, 400, "the upstream's refusal, relayed");
});

test("a translated channel's response id is not retrievable: 404 saying why", async () => {
  const created = await create({ model: 'claude-r', input: 'Translated' });
  assert.equal(anthropic.stats.lastRequest?.path, '/v1/messages');
  const r = await call('GET', `/v1/responses/${created.id}`);
  assert.equal(r.status, 404);
  assert.match((await r.json()).error.message, /answers by translation stores nothing/);
});

test('a response whose channel is disabled since: 503 naming why, nothing sent upstream', async () => {
  const created = await create({ model: 'gpt-r', input: 'Then the channel goes' });
  await fx.tg.store.channels.setEnabled(openaiChannelId, false);
  await fx.tg.sync.pollNow();
  try {
    const before = openai.stats.requests;
    const r = await call('GET', `/v1/responses/${created.id}`);
    assert.equal(r.status, 503);
    assert.match((await r.json()).error.message, /channel that stored this response is disabled or removed/);
    assert.equal(openai.stats.requests, before);
  } finally {
    await fx.tg.store.channels.setEnabled(openaiChannelId, true);
    await fx.tg.sync.pollNow();
  }
});

test('the mapping survives a restart on the same data dir (read from the usage record)', async () => {
  const created = await create({ model: 'gpt-r', input: 'Remember me' });
  await fx.tg.close(); // flushes the usage records
  const again = await startFixture({ TOLLGATE_DATA_DIR: fx.dataDir }, 'carol');
  restarted = again;
  fx = { ...fx, url: again.url };
  const r = await call('GET', `/v1/responses/${created.id}`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).id, created.id);
  assert.equal((await call('GET', `/v1/responses/${created.id}`, bob.key)).status, 404);
  const page = await again.tg.store.usage.page({ userId: fx.userId, model: 'gpt-r', limit: 50 });
  assert.ok(page.records.some((rec) => rec.responseId === created.id && rec.channelId !== null));
});
