/**
 * admin.port: the operator side (admin API, dashboard, /api/metrics) on its
 * own listener, off the public one; the client API stays on the main port.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture({ TOLLGATE_ADMIN_PORT: '0', TOLLGATE_ADMIN_HOST: '127.0.0.1' });
});
after(() => fx.close());

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

test('admin API, dashboard and /api/metrics answer on the admin listener only', async () => {
  const adminUrl = fx.tg.server.adminUrl;
  assert.ok(adminUrl !== null && adminUrl !== fx.url, `admin listener ${adminUrl}`);
  assert.equal((await fetch(`${adminUrl}/admin/users`, { headers: admin })).status, 200);
  assert.equal((await fetch(`${adminUrl}/dashboard/`)).status, 200);
  assert.equal((await fetch(`${adminUrl}/api/metrics`, { headers: admin })).status, 200);
  assert.equal((await fetch(`${adminUrl}/admin/users`)).status, 401, 'still behind the admin token');

  for (const path of ['/admin/users', '/dashboard/', '/api/metrics']) {
    const r = await fetch(`${fx.url}${path}`, { headers: admin });
    assert.equal(r.status, 404, `${path} on the public listener`);
    assert.equal((await r.json()).error.code, 'unknown_url');
  }
});

test('the client API, account API and health stay on the main listener', async () => {
  const chat = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(chat.status, 200);
  assert.equal((await fetch(`${fx.url}/api/v1/balance`, { headers: { authorization: `Bearer ${fx.key}` } })).status, 200);
  assert.equal((await fetch(`${fx.url}/readyz`)).status, 200);
  assert.equal((await fetch(`${fx.tg.server.adminUrl}/v1/models`, { headers: { authorization: `Bearer ${fx.key}` } })).status, 404);
});
