/**
 * Admin API, users and client keys: happy paths, bad input (400 naming the
 * field), unknown ids (404), conflicts (409); a key revoked through the API
 * fails on the very next request, a disabled user likewise, and a credit
 * reaches the live balance before the reply.
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

test('users: create, get, list, filter, rename, credit', async () => {
  const created = await admin(fx, 'POST', '/admin/users', { name: 'bob', credit_micros: 2_000_000 });
  assert.equal(created.status, 201);
  const bob = created.body;
  assert.equal(bob.object, 'user');
  assert.equal(bob.name, 'bob');
  assert.equal(bob.balance_micros, 2_000_000);
  assert.equal(bob.disabled, false);

  assert.deepEqual((await admin(fx, 'GET', `/admin/users/${bob.id}`)).body.name, 'bob');
  const all = await admin(fx, 'GET', '/admin/users');
  assert.equal(all.body.object, 'list');
  assert.deepEqual(all.body.data.map((u: any) => u.name), ['alice', 'bob']);
  assert.deepEqual((await admin(fx, 'GET', '/admin/users?name=bob')).body.data.map((u: any) => u.id), [bob.id]);
  assert.deepEqual((await admin(fx, 'GET', '/admin/users?name=nobody')).body.data, []);

  const renamed = await admin(fx, 'PATCH', `/admin/users/${bob.id}`, { name: 'robert' });
  assert.equal(renamed.status, 200);
  assert.equal(renamed.body.name, 'robert');

  const credited = await admin(fx, 'POST', `/admin/users/${bob.id}/credit`, { amount_micros: -500_000 });
  assert.equal(credited.status, 200);
  assert.equal(credited.body.balance_micros, 1_500_000);
});

test('users: bad input is a 400 naming the field; unknown ids 404; taken names 409', async () => {
  assertError(await admin(fx, 'POST', '/admin/users', {}), 400, 'name');
  assertError(await admin(fx, 'POST', '/admin/users', { name: 42 }), 400, 'name');
  assertError(await admin(fx, 'POST', '/admin/users', { name: '' }), 400, 'name');
  assertError(await admin(fx, 'POST', '/admin/users', { name: 'x', nmae: 'y' }), 400, 'nmae');
  assertError(await admin(fx, 'POST', '/admin/users', { name: 'x', credit_micros: 1.5 }), 400, 'credit_micros');
  assertError(await admin(fx, 'POST', '/admin/users', { name: 'x', credit_micros: '100' }), 400, 'credit_micros');
  assertError(await admin(fx, 'POST', '/admin/users', '{"name":'), 400);
  assertError(await admin(fx, 'POST', '/admin/users', [1]), 400);
  assertError(await admin(fx, 'PATCH', `/admin/users/${fx.userId}`, {}), 400);
  assertError(await admin(fx, 'PATCH', `/admin/users/${fx.userId}`, { disabled: 'yes' }), 400, 'disabled');
  assertError(await admin(fx, 'POST', `/admin/users/${fx.userId}/credit`, { amount_micros: 0 }), 400, 'amount_micros');
  assertError(await admin(fx, 'POST', `/admin/users/${fx.userId}/credit`, { amount_micros: 2 ** 60 }), 400, 'amount_micros');
  assertError(await admin(fx, 'POST', `/admin/users/${fx.userId}/credit`, {}), 400, 'amount_micros');
  assertError(await admin(fx, 'GET', '/admin/users/abc'), 400, 'id');
  assertError(await admin(fx, 'GET', '/admin/users?disabled=maybe'), 400, 'disabled');
  assertError(await admin(fx, 'GET', '/admin/users?colour=red'), 400, 'colour');

  for (const [method, path, body] of [
    ['GET', '/admin/users/9999'],
    ['PATCH', '/admin/users/9999', { name: 'z' }],
    ['POST', '/admin/users/9999/disable'],
    ['POST', '/admin/users/9999/enable'],
    ['POST', '/admin/users/9999/credit', { amount_micros: 5 }],
  ] as const) assertError(await admin(fx, method, path, body), 404);

  assertError(await admin(fx, 'POST', '/admin/users', { name: 'alice' }), 409);
  assert.equal(await fx.tg.store.users.byName('x'), undefined, 'no user was created by a refused request');
});

test('keys: create shows the key once, lists show the prefix only, get, filter', async () => {
  const created = await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, name: 'ci' });
  assert.equal(created.status, 201);
  const k = created.body;
  assert.match(k.key, /^tg-[0-9A-Za-z]{32}$/);
  assert.equal(k.prefix, k.key.slice(0, 10));
  assert.equal(k.name, 'ci');
  assert.equal(await chat(fx, k.key), 200, 'a key created through the API works at once');

  const list = await admin(fx, 'GET', `/admin/keys?user_id=${fx.userId}`);
  const text = JSON.stringify(list.body);
  assert.ok(!text.includes(k.key), 'the key is never listed');
  assert.ok(!/[0-9a-f]{64}/.test(text), 'nor its hash');
  assert.ok(list.body.data.some((x: any) => x.id === k.id && x.prefix === k.prefix && x.key === undefined));
  assert.deepEqual((await admin(fx, 'GET', `/admin/keys?prefix=${k.prefix}`)).body.data.map((x: any) => x.id), [k.id]);
  const one = await admin(fx, 'GET', `/admin/keys/${k.id}`);
  assert.equal(one.body.prefix, k.prefix);
  assert.equal(one.body.key, undefined);
  assert.ok(!JSON.stringify(one.body).includes(k.key));
  assert.equal(JSON.stringify(one.body).includes('hash'), false);
});

test('keys: bad input 400, unknown user or key 404, double revoke 409', async () => {
  assertError(await admin(fx, 'POST', '/admin/keys', {}), 400, 'user_id');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: 'one' }), 400, 'user_id');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: 0 }), 400, 'user_id');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId, secret: 'tg-mine' }), 400, 'secret');
  assertError(await admin(fx, 'GET', '/admin/keys?revoked=perhaps'), 400, 'revoked');
  assertError(await admin(fx, 'POST', '/admin/keys', { user_id: 9999 }), 404, 'user_id');
  assertError(await admin(fx, 'GET', '/admin/keys/9999'), 404, 'id');
  assertError(await admin(fx, 'POST', '/admin/keys/9999/revoke'), 404, 'id');
  const k = (await admin(fx, 'POST', '/admin/keys', { user_id: fx.userId })).body;
  assert.equal((await admin(fx, 'POST', `/admin/keys/${k.id}/revoke`)).status, 200);
  assertError(await admin(fx, 'POST', `/admin/keys/${k.id}/revoke`), 409, 'id');
});

test('a key revoked through the API fails on the very next request', async () => {
  const u = await fx.newUser('carol');
  assert.equal(await chat(fx, u.key), 200, 'the key works and is now cached');
  // An empty JSON body is accepted on action routes (many clients send the header anyway).
  const revoked = await admin(fx, 'POST', `/admin/keys/${u.keyId}/revoke`, '');
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  assert.equal(revoked.body.revoked, true);
  assert.equal(typeof revoked.body.revoked_at, 'number');
  assert.equal(await chat(fx, u.key), 401);
});

test('a user disabled through the API is refused on the next request, and works again once enabled', async () => {
  const u = await fx.newUser('dave');
  assert.equal(await chat(fx, u.key), 200);
  const disabled = await admin(fx, 'POST', `/admin/users/${u.userId}/disable`);
  assert.equal(disabled.body.disabled, true);
  assert.equal(await chat(fx, u.key), 403);
  assert.deepEqual((await admin(fx, 'GET', '/admin/users?disabled=true')).body.data.map((x: any) => x.name), ['dave']);
  const enabled = await admin(fx, 'PATCH', `/admin/users/${u.userId}`, { disabled: false });
  assert.equal(enabled.body.disabled, false);
  assert.equal(await chat(fx, u.key), 200);
});

test('a credit through the API reaches the live balance before the reply', async () => {
  const u = await fx.newUser('erin');
  await fx.tg.accounting!.ledger.ensureLoaded(u.userId);
  const r = await admin(fx, 'POST', `/admin/users/${u.userId}/credit`, { amount_micros: 3_000_000 });
  assert.equal(r.body.balance_micros, 3_000_000);
  assert.equal(r.body.live_balance_micros, 3_000_000);
  assert.equal(fx.tg.accounting!.ledger.snapshot(u.userId)?.balanceMicros, 3_000_000);
});

test('users and keys: search and pages by id, resumed with next_after', async () => {
  const made = [];
  for (const name of ['Page_Ann', 'page%bob', 'page-cyd', 'other']) made.push(await fx.newUser(name));
  const names = (r: { body: any }) => r.body.data.map((x: any) => x.name);

  const first = await admin(fx, 'GET', '/admin/users?search=PAGE&limit=2');
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual(names(first), ['Page_Ann', 'page%bob'], 'case-insensitive, oldest first');
  assert.equal(first.body.has_more, true);
  const second = await admin(fx, 'GET', `/admin/users?search=page&limit=2&after=${first.body.next_after}`);
  assert.deepEqual(names(second), ['page-cyd']);
  assert.equal(second.body.has_more, false);
  assert.equal(second.body.next_after, null);
  assert.deepEqual(names(await admin(fx, 'GET', '/admin/users?search=page&order=desc&limit=1')), ['page-cyd']);
  // LIKE wildcards in the search are plain characters.
  assert.deepEqual(names(await admin(fx, 'GET', '/admin/users?search=%25')), ['page%bob']);
  assert.deepEqual(names(await admin(fx, 'GET', '/admin/users?search=_')), ['Page_Ann']);
  const all = await admin(fx, 'GET', '/admin/users');
  assert.equal(all.body.has_more, false, 'without limit: the whole list');
  assert.ok(all.body.data.length >= 5);

  const ann = first.body.data[0];
  const labelled = (await admin(fx, 'POST', '/admin/keys', { user_id: ann.id, name: 'Laptop-Search' })).body;
  const byLabel = await admin(fx, 'GET', '/admin/keys?search=laptop-s');
  assert.deepEqual(byLabel.body.data.map((k: any) => k.id), [labelled.id]);
  const byOwner = await admin(fx, 'GET', '/admin/keys?search=page_ann&order=desc');
  assert.deepEqual(byOwner.body.data.map((k: any) => k.id), [labelled.id, made[0].keyId], 'by owner name, newest first');
  assert.deepEqual((await admin(fx, 'GET', `/admin/keys?search=${labelled.prefix.slice(3, 9)}`)).body.data.map((k: any) => k.id), [labelled.id], 'by display prefix');
  const keyPage = await admin(fx, 'GET', '/admin/keys?limit=1&order=desc');
  assert.deepEqual(keyPage.body.data.map((k: any) => k.id), [labelled.id], 'newest first');
  assert.equal(keyPage.body.next_after, labelled.id);
  const next = await admin(fx, 'GET', `/admin/keys?limit=1&order=desc&after=${labelled.id}`);
  assert.ok(next.body.data[0].id < labelled.id);

  assertError(await admin(fx, 'GET', '/admin/users?limit=0'), 400, 'limit');
  assertError(await admin(fx, 'GET', '/admin/users?limit=501'), 400, 'limit');
  assertError(await admin(fx, 'GET', '/admin/keys?after=x'), 400, 'after');
  assertError(await admin(fx, 'GET', '/admin/keys?order=sideways'), 400, 'order');
  assertError(await admin(fx, 'GET', '/admin/users?search='), 400, 'search');
});
