/**
 * Admin API, prices and limit policies: upsert, list, delete; bad input,
 * unknown ids; and both take effect on the running gateway from the next
 * request, without a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { admin, assertError, chat } from './admin-api-support.ts';

let fx: Fixture;

before(async () => {
  fx = await startFixture();
});
after(async () => {
  await fx.close();
});

test('prices: set, replace, list, filter, delete', async () => {
  const set = await admin(fx, 'PUT', '/admin/prices', { model: 'gpt-z', input_micros_per_mtok: 2_500_000, output_micros_per_mtok: 10_000_000 });
  assert.equal(set.status, 200);
  assert.deepEqual({ ...set.body, id: 0 }, { object: 'price', id: 0, model: 'gpt-z', channel_id: null, input_micros_per_mtok: 2_500_000, output_micros_per_mtok: 10_000_000, cached_input_micros_per_mtok: null, cache_write_micros_per_mtok: null, reasoning_micros_per_mtok: null, free: false });
  const replaced = await admin(fx, 'PUT', '/admin/prices', { model: 'gpt-z', input_micros_per_mtok: 1, output_micros_per_mtok: 2 });
  assert.equal(replaced.body.id, set.body.id, 'same (model, channel): replaced, not added');
  await admin(fx, 'PUT', '/admin/prices', { model: 'other', free: true });
  assert.deepEqual((await admin(fx, 'GET', '/admin/prices')).body.data.map((p: any) => p.model), ['gpt-z', 'other']);
  assert.deepEqual((await admin(fx, 'GET', '/admin/prices?model=other')).body.data.map((p: any) => p.free), [true]);
  const del = await admin(fx, 'DELETE', `/admin/prices/${set.body.id}`);
  assert.deepEqual(del.body, { object: 'price', id: set.body.id, deleted: true });
  assertError(await admin(fx, 'DELETE', `/admin/prices/${set.body.id}`), 404, 'id');
});

test('prices: bad input 400 naming the field, unknown channel 404', async () => {
  assertError(await admin(fx, 'PUT', '/admin/prices', { input_micros_per_mtok: 1, output_micros_per_mtok: 1 }), 400, 'model');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', input_micros_per_mtok: 1 }), 400, 'output_micros_per_mtok');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', input_micros_per_mtok: -1, output_micros_per_mtok: 1 }), 400, 'input_micros_per_mtok');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', input_micros_per_mtok: 0.5, output_micros_per_mtok: 1 }), 400, 'input_micros_per_mtok');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', free: 'yes' }), 400, 'free');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', free: true, channel_id: 'a' }), 400, 'channel_id');
  assertError(await admin(fx, 'PUT', '/admin/prices', { model: 'm', free: true, channel_id: 4242 }), 404, 'channel_id');
  assertError(await admin(fx, 'DELETE', '/admin/prices/x'), 400, 'id');
});

test('a price set through the API applies to the next request; deleting it restores the free default', async () => {
  const u = await fx.newUser('payer');
  assert.equal(await chat(fx, u.key), 200, 'mock-gpt is free by default');
  const p = await admin(fx, 'PUT', '/admin/prices', { model: 'mock-gpt', input_micros_per_mtok: 1_000_000, output_micros_per_mtok: 1_000_000 });
  assert.equal(await chat(fx, u.key), 402, 'now priced, and the user has no credits');
  await admin(fx, 'POST', `/admin/users/${u.userId}/credit`, { amount_micros: 1_000_000 });
  assert.equal(await chat(fx, u.key), 200, 'the credit applies to the next request too');
  await admin(fx, 'DELETE', `/admin/prices/${p.body.id}`);
  await fx.tg.accounting!.writer.flush();
  const before = (await admin(fx, 'GET', `/admin/users/${u.userId}`)).body.balance_micros;
  assert.ok(before < 1_000_000, 'the priced request was charged');
  assert.equal(await chat(fx, u.key), 200);
});

test('limits: set, replace, list, filter, delete', async () => {
  const set = await admin(fx, 'PUT', '/admin/limits', { scope: 'user', subject: String(fx.userId), rpm: 100, tpm: null });
  assert.equal(set.status, 200);
  assert.deepEqual({ ...set.body, id: 0 }, { object: 'limit_policy', id: 0, scope: 'user', subject: String(fx.userId), rpm: 100, tpm: null, concurrency: null });
  const again = await admin(fx, 'PUT', '/admin/limits', { scope: 'user', subject: String(fx.userId), concurrency: 4 });
  assert.equal(again.body.id, set.body.id);
  assert.equal(again.body.rpm, null, 'a PUT replaces the whole policy');
  await admin(fx, 'PUT', '/admin/limits', { scope: 'global', rpm: 100_000 });
  await admin(fx, 'PUT', '/admin/limits', { scope: 'model', subject: 'mock-gpt-large', tpm: 1_000_000 });
  await admin(fx, 'PUT', '/admin/limits', { scope: 'user_model', subject: `${fx.userId}:mock-gpt`, rpm: 1000 });
  await admin(fx, 'PUT', '/admin/limits', { scope: 'key', subject: String(fx.keyId), rpm: 1000 });
  const all = (await admin(fx, 'GET', '/admin/limits')).body.data;
  assert.deepEqual(all.map((p: any) => p.scope).sort(), ['global', 'key', 'model', 'user', 'user_model']);
  assert.deepEqual((await admin(fx, 'GET', '/admin/limits?scope=model')).body.data.map((p: any) => p.subject), ['mock-gpt-large']);
  for (const p of all) assert.equal((await admin(fx, 'DELETE', `/admin/limits/${p.id}`)).body.deleted, true);
  assert.deepEqual((await admin(fx, 'GET', '/admin/limits')).body.data, []);
});

test('limits: PATCH changes only the limits given (null lifts one), creating the policy if needed', async () => {
  const u = await fx.newUser('patched');
  const subject = String(u.userId);
  const created = await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject, rpm: 60, tpm: 100_000, concurrency: 4 });
  assert.equal(created.status, 200);
  const patched = await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject, tpm: 1000 });
  assert.deepEqual({ ...patched.body, id: 0 }, { object: 'limit_policy', id: 0, scope: 'user', subject, rpm: 60, tpm: 1000, concurrency: 4 });
  assert.equal(patched.body.id, created.body.id);
  const lifted = await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject, concurrency: null });
  assert.deepEqual([lifted.body.rpm, lifted.body.tpm, lifted.body.concurrency], [60, 1000, null]);
  assertError(await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject }), 400, 'rpm');
  assertError(await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject: '9999', rpm: 1 }), 404, 'subject');
  assertError(await admin(fx, 'PATCH', '/admin/limits', { scope: 'user', subject, rpm: -1 }), 400, 'rpm');
  const unchanged = (await admin(fx, 'GET', '/admin/limits?scope=user')).body.data.find((p: any) => p.subject === subject);
  assert.deepEqual([unchanged.rpm, unchanged.tpm, unchanged.concurrency], [60, 1000, null], 'a refused PATCH changed nothing');
  const spec = (await admin(fx, 'GET', '/admin/openapi.json')).body;
  assert.match(spec.paths['/admin/limits'].patch.summary, /only the limits given/);
  assert.match(spec.paths['/admin/limits'].put.summary, /replace the whole policy/);
  assert.equal((await admin(fx, 'DELETE', `/admin/limits/${created.body.id}`)).status, 200);
});

test('limits: bad input 400 naming the field, unknown subjects and ids 404', async () => {
  assertError(await admin(fx, 'PUT', '/admin/limits', { rpm: 1 }), 400, 'scope');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'planet', rpm: 1 }), 400, 'scope');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'global', rpm: -5 }), 400, 'rpm');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'global', tpm: '5' }), 400, 'tpm');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'global', subject: 'x', rpm: 1 }), 400, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'user', rpm: 1 }), 400, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'user', subject: 'alice', rpm: 1 }), 400, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'user_model', subject: 'mock-gpt', rpm: 1 }), 400, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'global', rps: 1 }), 400, 'rps');
  assertError(await admin(fx, 'GET', '/admin/limits?scope=planet'), 400, 'scope');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'user', subject: '9999', rpm: 1 }), 404, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'key', subject: '9999', rpm: 1 }), 404, 'subject');
  assertError(await admin(fx, 'PUT', '/admin/limits', { scope: 'user_model', subject: '9999:mock-gpt', rpm: 1 }), 404, 'subject');
  assertError(await admin(fx, 'DELETE', '/admin/limits/9999'), 404, 'id');
});

test('a limit set through the API applies to the next request; deleting it lifts it', async () => {
  const u = await fx.newUser('limited');
  const p = await admin(fx, 'PUT', '/admin/limits', { scope: 'user', subject: String(u.userId), rpm: 2 });
  assert.equal(await chat(fx, u.key), 200);
  assert.equal(await chat(fx, u.key), 200);
  assert.equal(await chat(fx, u.key), 429);
  await admin(fx, 'DELETE', `/admin/limits/${p.body.id}`);
  assert.equal(await chat(fx, u.key), 200);
});
