/**
 * Key governance through the HTTP paths: a key that expires while cached, a
 * model allow-list (403 and a filtered /v1/models), a client address
 * allow-list with the trusted proxy header off (a sent header is ignored) and
 * on, and the admin API's create/update with bad input naming the field.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { admin, assertError } from './admin-api-support.ts';

let fx: Fixture;
/** Listens on :: (dual stack) with x-forwarded-for trusted from any peer. */
let behindProxy: Fixture;
/** x-forwarded-for trusted only from 10.0.0.0/8, which the test's peer is not. */
let strictProxy: Fixture;

before(async () => {
  fx = await startFixture();
  behindProxy = await startFixture({ TOLLGATE_HOST: '::', TOLLGATE_TRUSTED_PROXY_HEADER: 'X-Forwarded-For' }, 'proxied');
  strictProxy = await startFixture({ TOLLGATE_TRUSTED_PROXY_HEADER: 'x-forwarded-for', TOLLGATE_TRUSTED_PROXIES: '10.0.0.0/8' }, 'strict');
});
after(async () => {
  await fx.close();
  await behindProxy.close();
  await strictProxy.close();
});

interface Answer { status: number; body: any }

async function call(base: string, key: string, path: string, opts: { model?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const post = opts.model !== undefined;
  const res = await request(`${base}${path}`, {
    method: post ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${key}`, ...(post ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: post ? JSON.stringify({ model: opts.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: JSON.parse(text) };
}
const chat = (base: string, key: string, model = 'mock-gpt', headers: Record<string, string> = {}) => call(base, key, '/v1/chat/completions', { model, headers });

/** A key of the fixture's user, created through the admin API with these rules. */
async function keyWith(f: Fixture, rules: Record<string, unknown>): Promise<{ id: number; key: string; body: any }> {
  const r = await admin(f, 'POST', '/admin/keys', { user_id: f.userId, ...rules });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { id: r.body.id, key: r.body.key, body: r.body };
}

test('a key expiring in ~1 s works until then, and is refused at its expiry while still cached (401 key_expired)', async () => {
  const expiresAt = Date.now() + 1_000;
  const k = await keyWith(fx, { expires_at: expiresAt });
  assert.equal(k.body.expires_at, expiresAt);
  assert.equal((await chat(fx.url, k.key)).status, 200, 'valid before its expiry (and now cached)');
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 20));
  const refused = await chat(fx.url, k.key);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'key_expired');
  assert.match(refused.body.error.message, /expired/);
  assert.equal((await call(fx.url, k.key, '/api/v1/balance')).status, 401, 'the account API refuses it too');

  // A later expiry brings it back from the next request on.
  const later = await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { expires_at: '30d' });
  assert.equal(later.status, 200);
  assert.ok(later.body.expires_at > Date.now() + 29 * 86_400_000);
  assert.equal((await chat(fx.url, k.key)).status, 200);
  assert.equal((await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { expires_at: null })).body.expires_at, null);
});

test('a model allow-list: other models 403 model_not_allowed, /v1/models lists only the allowed ones; PATCH applies at once', async () => {
  const k = await keyWith(fx, { models: ['mock-gpt', 'no-such-model'] });
  assert.deepEqual(k.body.models, ['mock-gpt', 'no-such-model']);
  assert.equal((await chat(fx.url, k.key, 'mock-gpt')).status, 200);
  const refused = await chat(fx.url, k.key, 'mock-gpt-large');
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'model_not_allowed');
  assert.equal(refused.body.error.param, 'model');
  assert.match(refused.body.error.message, /mock-gpt-large/);

  const listed = await call(fx.url, k.key, '/v1/models');
  assert.deepEqual(listed.body.data.map((m: any) => m.id), ['mock-gpt'], 'allowed and routed');
  const anthropic = await call(fx.url, k.key, '/v1/models', { headers: { 'anthropic-version': '2023-06-01' } });
  assert.deepEqual(anthropic.body.data.map((m: any) => m.id), ['mock-gpt']);
  assert.equal((await call(fx.url, k.key, '/v1/models/mock-gpt')).status, 200);
  assert.equal((await call(fx.url, k.key, '/v1/models/mock-gpt-large')).status, 404);
  const everyone = await call(fx.url, fx.key, '/v1/models');
  assert.ok(everyone.body.data.length > 1, 'a key without a list sees every model');

  assert.deepEqual((await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { models: null })).body.models, null);
  assert.equal((await chat(fx.url, k.key, 'mock-gpt-large')).status, 200, 'lifted from the next request');
});

test('an address allow-list checks the TCP peer; an x-forwarded-for sent without trustedProxyHeader is ignored', async () => {
  const elsewhere = await keyWith(fx, { ips: ['10.0.0.0/8', '2001:db8::/32'] });
  const refused = await chat(fx.url, elsewhere.key);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'ip_not_allowed');
  const spoofed = await chat(fx.url, elsewhere.key, 'mock-gpt', { 'x-forwarded-for': '10.1.2.3' });
  assert.equal(spoofed.status, 403, 'a header the operator did not name must not let a client pick its address');
  assert.equal((await call(fx.url, elsewhere.key, '/api/v1/balance')).status, 403, 'the account API checks it too');

  const local = await keyWith(fx, { ips: ['127.0.0.0/8'] });
  assert.equal((await chat(fx.url, local.key)).status, 200);
  // Narrow it to IPv6 loopback only: this IPv4 client is refused from the next request on.
  assert.equal((await admin(fx, 'PATCH', `/admin/keys/${local.id}`, { ips: ['::1/128'] })).status, 200);
  assert.equal((await chat(fx.url, local.key)).status, 403);
  assert.equal((await admin(fx, 'PATCH', `/admin/keys/${local.id}`, { ips: null })).body.ips, null);
  assert.equal((await chat(fx.url, local.key)).status, 200);
});

test('on a dual-stack listener the allow-list matches IPv6 peers and IPv4 peers (IPv4-mapped)', async () => {
  const port = new URL(behindProxy.url).port;
  const v6 = await keyWith(behindProxy, { ips: ['::1/128'] });
  assert.equal((await chat(`http://[::1]:${port}`, v6.key)).status, 200);
  assert.equal((await chat(`http://127.0.0.1:${port}`, v6.key)).status, 403);
  const v4 = await keyWith(behindProxy, { ips: ['127.0.0.1/32'] });
  assert.equal((await chat(`http://127.0.0.1:${port}`, v4.key)).status, 200, 'the peer ::ffff:127.0.0.1 is 127.0.0.1');
  assert.equal((await chat(`http://[::1]:${port}`, v4.key)).status, 403);
});

test('with trustedProxyHeader the right-most x-forwarded-for entry counts, IPv4 or IPv6; with trustedProxies only from those peers', async () => {
  const base = `http://127.0.0.1:${new URL(behindProxy.url).port}`;
  const k = await keyWith(behindProxy, { ips: ['10.0.0.0/8', '2001:db8::/32'] });
  assert.equal((await chat(base, k.key, 'mock-gpt', { 'x-forwarded-for': '10.1.2.3' })).status, 200);
  assert.equal((await chat(base, k.key, 'mock-gpt', { 'x-forwarded-for': '2001:db8::7' })).status, 200);
  assert.equal((await chat(base, k.key, 'mock-gpt', { 'x-forwarded-for': '10.1.2.3, 192.0.2.1' })).status, 403, 'the proxy appended the real client; the left part is the client’s own claim');
  assert.equal((await chat(base, k.key)).status, 403, 'no header: the peer 127.0.0.1');

  const s = await keyWith(strictProxy, { ips: ['10.0.0.0/8'] });
  const ignored = await chat(strictProxy.url, s.key, 'mock-gpt', { 'x-forwarded-for': '10.1.2.3' });
  assert.equal(ignored.status, 403, '127.0.0.1 is not a trusted proxy, so its header is not believed');
  assert.equal(ignored.body.error.code, 'ip_not_allowed');
});

test('admin API: bad rules are 400 naming the field; a revoked key cannot change (409); OpenAPI documents the fields', async () => {
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, expires_at: 'soon' }), 400, 'expires_at');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, expires_at: Date.now() - 1_000 }), 400, 'expires_at');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, expires_at: true }), 400, 'expires_at');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, ips: ['10.0.0.0/8', '10.0.0.0/33'] }), 400, 'ips.1');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, ips: [] }), 400, 'ips');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, models: [] }), 400, 'models');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, models: 'gpt-4o' }), 400, 'models');
  const k = await keyWith(fx, { expires_at: '2099-01-01', models: ['mock-gpt'], ips: ['::1/128'] });
  assert.deepEqual([k.body.expires_at, k.body.models, k.body.ips], [Date.UTC(2099, 0, 1), ['mock-gpt'], ['::1/128']]);
  assertError(await admin(fx, 'PATCH', `/admin/keys/${k.id}`, {}), 400);
  assertError(await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { ips: ['::1/200'] }), 400, 'ips.0');
  assertError(await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { name: 'x' }), 400, 'name');
  assertError(await admin(fx, 'PATCH', '/admin/keys/999999', { models: null }), 404, 'id');
  assert.equal((await admin(fx, 'POST', `/admin/keys/${k.id}/revoke`)).status, 200);
  assertError(await admin(fx, 'PATCH', `/admin/keys/${k.id}`, { models: null }), 409, 'id');

  const doc = (await admin(fx, 'GET', '/admin/openapi.json')).body;
  assert.ok(doc.paths['/admin/keys/{id}'].patch, 'PATCH /admin/keys/{id}');
  const keySchema = doc.components.schemas.Key;
  for (const field of ['expires_at', 'models', 'ips']) assert.ok(keySchema.required.includes(field), field);
});
