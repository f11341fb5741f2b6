/**
 * PostgreSQL unreachable under a running gateway: a key not yet cached gets
 * 503 with Retry-After (not a 500), /readyz reports not ready, and both
 * recover when the database answers again. The database is the real server
 * behind a TCP forwarder that the test closes and reopens.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = `tg_storedown_${process.pid}_${Date.now()}`;

let forwarder: Server | null = null;
const sockets = new Set<Socket>();
let port = 0;

function openForwarder(): Promise<void> {
  const target = new URL(PG_URL);
  forwarder = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((r) => forwarder!.listen(port, '127.0.0.1', () => {
    port = (forwarder!.address() as AddressInfo).port;
    r();
  }));
}

async function closeForwarder(): Promise<void> {
  const closed = new Promise((r) => forwarder!.close(r));
  for (const s of sockets) s.destroy();
  await closed;
}

let fx: Fixture;
before(async () => {
  await openForwarder();
  const url = new URL(PG_URL);
  url.port = String(port);
  fx = await startFixture({ DATABASE_URL: url.toString(), TOLLGATE_POSTGRES_SCHEMA: SCHEMA });
});
after(async () => {
  await fx.close();
  await forwarder?.close();
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`drop schema if exists "${SCHEMA}" cascade`);
  await c.end();
});

const chat = (key: string) => fetch(`${fx.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }] }),
});

test('store unreachable: uncached key → 503 with Retry-After, /readyz 503; both recover', async () => {
  const bob = await fx.newUser('bob'); // in the store, not yet in the key cache
  assert.equal((await chat(fx.key)).status, 200); // alice's key is cached from here on
  assert.equal((await fetch(`${fx.url}/readyz`)).status, 200);

  await closeForwarder();
  const refused = await chat(bob.key);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.equal((await refused.json()).error.code, 'store_unavailable');
  assert.equal((await fetch(`${fx.url}/readyz`)).status, 503);
  assert.equal((await chat(fx.key)).status, 200, 'a cached key keeps working');

  await openForwarder();
  let ready = 503;
  for (let i = 0; i < 50 && ready !== 200; i++) {
    ready = (await fetch(`${fx.url}/readyz`)).status;
    if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ready, 200, 'ready again once the store answers');
  assert.equal((await chat(bob.key)).status, 200);
});

test('store unreachable on a quiet node: /readyz turns 503 without any request having failed, and back', async () => {
  assert.equal((await fetch(`${fx.url}/readyz`)).status, 200);
  await closeForwarder();
  // No key lookup fails here: readiness must find out by itself (it probes a store not heard from for a second).
  let ready = 200;
  for (let i = 0; i < 30 && ready === 200; i++) {
    ready = (await fetch(`${fx.url}/readyz`)).status;
    if (ready === 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ready, 503, 'not ready while the store is unreachable');
  await openForwarder();
  for (let i = 0; i < 50 && ready !== 200; i++) {
    ready = (await fetch(`${fx.url}/readyz`)).status;
    if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(ready, 200, 'ready again once the store answers');
});
