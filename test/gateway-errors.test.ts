/**
 * Bad input gets a clear 4xx in OpenAI's error shape, never a crash; revoked
 * keys fail on the very next request; the account API validates its queries.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { hashClientKey } from '../src/keys/client-key.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture({ TOLLGATE_BODY_LIMIT_BYTES: '4096' });
});
after(() => fx.close());

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`${fx.url}${path}`, { method: (init.method ?? 'POST') as 'POST', headers: init.headers, body: init.body });
  const text = await res.body.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.statusCode, json, headers: res.headers };
}

const auth = () => ({ authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' });
const chatBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], ...extra });

const cases: Array<{ name: string; path?: string; method?: string; headers?: () => Record<string, string>; body?: string; status: number; code: string }> = [
  { name: 'malformed JSON', body: '{"model": "mock-gpt", ', status: 400, code: 'invalid_json' },
  { name: 'body is not an object', body: '[1,2]', status: 400, code: 'invalid_request' },
  { name: 'missing model', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }), status: 400, code: 'missing_model' },
  { name: 'model of the wrong type', body: JSON.stringify({ model: 7, messages: [] }), status: 400, code: 'invalid_request' },
  { name: 'missing messages', body: JSON.stringify({ model: 'mock-gpt' }), status: 400, code: 'invalid_request' },
  { name: 'bad max_tokens', body: chatBody({ max_tokens: -3 }), status: 400, code: 'invalid_request' },
  { name: 'unknown model', body: chatBody({ model: 'no-such-model' }), status: 404, code: 'model_not_found' },
  { name: 'body over the limit', body: chatBody({ pad: 'x'.repeat(5000) }), status: 413, code: 'request_too_large' },
  { name: 'wrong content type', headers: () => ({ authorization: `Bearer ${fx.key}`, 'content-type': 'text/plain' }), body: chatBody(), status: 415, code: 'unsupported_media_type' },
  { name: 'missing key', headers: () => ({ 'content-type': 'application/json' }), body: chatBody(), status: 401, code: 'missing_api_key' },
  { name: 'invalid key', headers: () => ({ authorization: 'Bearer tg-not-a-real-key', 'content-type': 'application/json' }), body: chatBody(), status: 401, code: 'invalid_api_key' },
  { name: 'unknown route', path: '/v1/nothing-here', status: 404, code: 'unknown_url' },
  { name: 'wrong method on an API route', path: '/v1/chat/completions', method: 'GET', status: 405, code: 'method_not_allowed' },
  { name: 'unpriced model on a real channel is refused', body: chatBody({ model: 'priced-later' }), status: 403, code: 'model_not_priced' },
];

test('set up a channel whose model has no price', async () => {
  const c = await fx.tg.store.channels.add({ name: 'unpriced', type: 'openai', baseUrl: fx.tg.mock!.url, models: [{ model: 'priced-later', upstreamModel: 'mock-gpt' }] });
  await fx.tg.store.channels.addKey(c.id, 'sk-x');
  await fx.tg.sync.pollNow();
  assert.ok(fx.tg.gateway.routes.models.has('priced-later'));
});

for (const c of cases) {
  test(`bad input: ${c.name} → ${c.status} ${c.code}`, async () => {
    const r = await call(c.path ?? '/v1/chat/completions', { method: c.method, headers: (c.headers ?? auth)(), body: c.body });
    assert.equal(r.status, c.status);
    assert.equal(r.json?.error?.code, c.code, JSON.stringify(r.json));
    assert.equal(typeof r.json.error.message, 'string');
    assert.ok(r.headers['x-response-time-ms'] !== undefined);
  });
}

test('x-api-key is accepted like a bearer token', async () => {
  const r = await call('/v1/chat/completions', { headers: { 'x-api-key': fx.key, 'content-type': 'application/json' }, body: chatBody() });
  assert.equal(r.status, 200);
});

test('a revoked key fails on the very next request (revoked on this server)', async () => {
  const user = await fx.newUser('revokee');
  const ok = await call('/v1/chat/completions', { headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' }, body: chatBody() });
  assert.equal(ok.status, 200);
  await fx.tg.store.keys.revoke(user.keyId);
  fx.tg.gateway.keys.forget(hashClientKey(user.key)); // what the admin API does on the server that revokes
  const denied = await call('/v1/chat/completions', { headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' }, body: chatBody() });
  assert.equal(denied.status, 401);
});

test('a key revoked elsewhere (another process writing the store) fails within one poll interval', async () => {
  const user = await fx.newUser('revokee2');
  const headers = { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' };
  assert.equal((await call('/v1/chat/completions', { headers, body: chatBody() })).status, 200);
  const revokedAt = Date.now();
  await fx.tg.store.keys.revoke(user.keyId); // only the store: this server learns it from the change feed
  let status = 200;
  while (status === 200 && Date.now() - revokedAt < 1000) {
    status = (await call('/v1/chat/completions', { headers, body: chatBody() })).status;
    if (status === 200) await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(status, 401, 'revocation reached the server within 1 s');
});

test('account API: balance and paginated usage; bad queries → 400', async () => {
  const headers = { authorization: `Bearer ${fx.key}` };
  const bal = await call('/api/v1/balance', { method: 'GET', headers });
  assert.equal(bal.status, 200);
  assert.equal(typeof bal.json.balance_micros, 'number');
  await fx.tg.accounting!.writer.flush();
  const page = await call('/api/v1/usage?limit=1', { method: 'GET', headers });
  assert.equal(page.status, 200);
  assert.equal(page.json.data.length, 1);
  assert.ok(page.json.next_cursor);
  const next = await call(`/api/v1/usage?limit=1&cursor=${page.json.next_cursor}`, { method: 'GET', headers });
  assert.equal(next.status, 200);
  assert.notEqual(next.json.data[0].id, page.json.data[0].id);
  assert.equal(page.json.has_more, true);
  // snake_case, the admin API's usage view
  assert.equal(page.json.data[0].object, 'usage_record');
  assert.equal(typeof page.json.data[0].prompt_tokens, 'number');
  assert.equal(typeof page.json.data[0].request_id, 'string');
  assert.equal(page.json.data[0].promptTokens, undefined);
  assert.equal(typeof page.json.totals.cost_micros, 'number');
  // The last page says so.
  const all = await call('/api/v1/usage?limit=1000', { method: 'GET', headers });
  assert.equal(all.status, 200);
  assert.equal(all.json.has_more, false);
  assert.equal(all.json.next_cursor, null);
  for (const q of ['limit=0', 'limit=abc', 'limit=100000', 'cursor=garbage!!', 'from=notadate', 'from=2000&to=1000']) {
    const bad = await call(`/api/v1/usage?${q}`, { method: 'GET', headers });
    assert.equal(bad.status, 400, q);
    assert.equal(bad.json.error.code, 'invalid_query', q);
  }
  assert.equal((await call('/api/v1/balance', { method: 'GET' })).status, 401);
});
