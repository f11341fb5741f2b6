/**
 * Admin API, channels and upstream keys: add, update, enable/disable, list
 * with health and cooldowns; bad input, unknown ids and conflicts. A channel
 * disabled through the API stops receiving traffic from the next request on.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { admin, assertError, chat } from './admin-api-support.ts';

let fx: Fixture;
let a: MockUpstream;
let b: MockUpstream;

before(async () => {
  // Long cooldowns so a failure is still visible when the list is read.
  fx = await startFixture({ TOLLGATE_UPSTREAM_COOLDOWN_BASE_MS: '60000' });
  a = await startMockUpstream();
  b = await startMockUpstream();
});
after(async () => {
  await fx.close();
  await a.close();
  await b.close();
});

test('channels: add with models and keys, get, list with health, update, key add/disable', async () => {
  const created = await admin(fx, 'POST', '/admin/channels', {
    name: 'alpha', base_url: `${a.url}/v1`, priority: 10,
    models: ['gpt-y', { model: 'fast', upstream_model: 'gpt-y-mini' }], keys: ['sk-alpha-0123456789abcdef'],
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const ch = created.body;
  assert.equal(ch.object, 'channel');
  assert.equal(ch.type, 'openai');
  assert.equal(ch.weight, 1);
  assert.equal(ch.enabled, true);
  assert.equal(ch.routed, true, 'in the live route table before the reply');
  assert.deepEqual(ch.models, [{ model: 'fast', upstream_model: 'gpt-y-mini' }, { model: 'gpt-y', upstream_model: 'gpt-y' }]);
  assert.equal(ch.keys.length, 1);
  assert.equal(ch.keys[0].hint, '…cdef');
  assert.ok(!JSON.stringify(ch).includes('sk-alpha'), 'upstream secrets are never returned');
  assert.deepEqual(ch.health, { cooling: false, failures: 0, cooldown_remaining_ms: 0 });

  assert.equal((await admin(fx, 'GET', `/admin/channels/${ch.id}`)).body.name, 'alpha');
  assert.deepEqual((await admin(fx, 'GET', '/admin/channels?name=alpha')).body.data.map((c: any) => c.id), [ch.id]);

  const patched = await admin(fx, 'PATCH', `/admin/channels/${ch.id}`, { weight: 3, models: ['gpt-y'] });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.weight, 3);
  assert.deepEqual(patched.body.models, [{ model: 'gpt-y', upstream_model: 'gpt-y' }]);
  assert.ok(!fx.tg.gateway.routes.models.has('fast'), 'the model list change reached the route table');

  const key = await admin(fx, 'POST', `/admin/channels/${ch.id}/keys`, { secret: 'sk-alpha-second-key-9999' });
  assert.equal(key.status, 201);
  assert.equal(key.body.enabled, true);
  const off = await admin(fx, 'PATCH', `/admin/channels/${ch.id}/keys/${key.body.id}`, { enabled: false });
  assert.equal(off.body.enabled, false);
  assert.equal(fx.tg.gateway.routes.channels.find((c) => c.id === ch.id)?.keys.length, 1, 'the disabled key left the route table');
});

test('channels: a failing channel shows its cooldown in the list', async () => {
  await admin(fx, 'PUT', '/admin/prices', { model: 'gpt-y', free: true });
  const alpha = (await admin(fx, 'GET', '/admin/channels?name=alpha')).body.data[0];
  a.setFault({ kind: 'status', status: 500, count: 1 });
  assert.equal(await chat(fx, fx.key, 'gpt-y'), 502);
  const after = (await admin(fx, 'GET', `/admin/channels/${alpha.id}`)).body;
  assert.equal(after.health.cooling, true);
  assert.equal(after.health.failures, 1);
  assert.ok(after.health.cooldown_remaining_ms > 0);
  // Re-enabling is not a health reset; the test heals it by hand for the next test.
  for (const c of fx.tg.gateway.routes.channels) fx.tg.gateway.health.succeed(c.health);
});

test('channels: SSRF guard, metadata / link-local / unspecified / non-http base URLs are 400 naming base_url', async () => {
  const ok = { name: 'ssrf', base_url: 'http://127.0.0.1:1/v1', models: ['m'] };
  for (const url of ['http://169.254.169.254/latest', 'http://2852039166/', 'http://[::ffff:169.254.169.254]/', 'http://metadata.google.internal/', 'http://0.0.0.0:8080/', 'http://[fe80::1]/', 'file:///etc/passwd', 'gopher://127.0.0.1:6379/']) {
    const r = await admin(fx, 'POST', '/admin/channels', { ...ok, base_url: url });
    assertError(r, 400, 'base_url');
    assert.match(r.body.error.message, /refused/, url);
  }
  const created = await admin(fx, 'POST', '/admin/channels', ok);
  assert.equal(created.status, 201, 'loopback stays allowed by default');
  assertError(await admin(fx, 'PATCH', `/admin/channels/${created.body.id}`, { base_url: 'http://169.254.169.254/' }), 400, 'base_url');
  assert.equal((await fx.tg.store.channels.byName('ssrf'))?.baseUrl, ok.base_url, 'a refused update changes nothing');
  assert.equal((await fx.tg.store.channels.listFull()).some((c) => c.baseUrl.includes('169.254')), false);
});

test('channels: bad input 400 naming the field, unknown ids 404, taken name 409', async () => {
  const ok = { name: 'x', base_url: 'http://127.0.0.1:1/v1', models: ['m'] };
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, name: undefined }), 400, 'name');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, base_url: 'not a url' }), 400, 'base_url');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, base_url: 'ftp://host/x' }), 400, 'base_url');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, type: 'gopher' }), 400, 'type');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, models: [] }), 400, 'models');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, weight: -1 }), 400, 'weight');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, priority: 'high' }), 400, 'priority');
  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, keys: 'sk-1' }), 400, 'keys');
  assertError(await admin(fx, 'PATCH', '/admin/channels/1', {}), 400);
  assertError(await admin(fx, 'PATCH', '/admin/channels/1', { enabled: 'no' }), 400, 'enabled');
  assertError(await admin(fx, 'PATCH', '/admin/channels/1/keys/1', {}), 400, 'enabled');
  assertError(await admin(fx, 'POST', '/admin/channels/1/keys', { secret: '' }), 400, 'secret');

  for (const [method, path, body] of [
    ['GET', '/admin/channels/9999'],
    ['PATCH', '/admin/channels/9999', { weight: 2 }],
    ['POST', '/admin/channels/9999/disable'],
    ['POST', '/admin/channels/9999/enable'],
    ['POST', '/admin/channels/9999/keys', { secret: 'sk-x' }],
    ['PATCH', '/admin/channels/9999/keys/1', { enabled: false }],
    ['PATCH', '/admin/channels/1/keys/9999', { enabled: false }],
  ] as const) assertError(await admin(fx, method, path, body), 404);

  assertError(await admin(fx, 'POST', '/admin/channels', { ...ok, name: 'alpha' }), 409);
  assert.equal((await fx.tg.store.channels.listFull()).some((c) => c.name === 'x'), false);
});

test('a channel disabled through the API stops receiving traffic at once; enabling brings it back', async () => {
  const beta = await admin(fx, 'POST', '/admin/channels', { name: 'beta', base_url: b.url, priority: 5, models: ['gpt-y'], keys: ['sk-beta'] });
  assert.equal(beta.status, 201);
  const alpha = (await admin(fx, 'GET', '/admin/channels?name=alpha')).body.data[0];
  a.resetStats();
  b.resetStats();
  for (let i = 0; i < 3; i++) assert.equal(await chat(fx, fx.key, 'gpt-y'), 200);
  assert.equal(a.stats.requests, 3, 'the higher-priority channel serves while enabled');
  assert.equal(b.stats.requests, 0);

  const disabled = await admin(fx, 'POST', `/admin/channels/${alpha.id}/disable`);
  assert.equal(disabled.status, 200);
  assert.equal(disabled.body.enabled, false);
  assert.equal(disabled.body.routed, false);
  for (let i = 0; i < 3; i++) assert.equal(await chat(fx, fx.key, 'gpt-y'), 200);
  assert.equal(a.stats.requests, 3, 'the disabled channel gets nothing more');
  assert.equal(b.stats.requests, 3, 'the traffic went to the other channel');

  await admin(fx, 'POST', `/admin/channels/${beta.body.id}/disable`);
  assert.notEqual(await chat(fx, fx.key, 'gpt-y'), 200, 'no enabled channel serves the model');
  assert.equal(a.stats.requests + b.stats.requests, 6);

  const enabled = await admin(fx, 'PATCH', `/admin/channels/${alpha.id}`, { enabled: true });
  assert.equal(enabled.body.enabled, true);
  assert.equal(await chat(fx, fx.key, 'gpt-y'), 200);
  assert.equal(a.stats.requests, 4);
  const list = (await admin(fx, 'GET', '/admin/channels?enabled=false')).body.data;
  assert.deepEqual(list.map((c: any) => c.name), ['beta']);
});
