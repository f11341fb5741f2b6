/**
 * Target failover of a service with several targets: an attempt that fails
 * before any response byte goes to the next target when that cannot run the
 * call twice or lose its body (connect failure: any method with its body
 * unread; reset: idempotent methods only), and the failed target cools down.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startTestService, type TestService } from './support/service-upstream.ts';

let fx: Fixture;
let live: TestService;
let deadUrl: string;
let resetter: Server;
let resetterUrl: string;
let resetterHits = 0;
const agent = new Agent({ connections: 32 });

/** A port nothing listens on: bound once, then released. */
async function deadPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(async () => {
  live = await startTestService();
  deadUrl = `http://127.0.0.1:${await deadPort()}`;
  // Reads the whole request, then drops the connection without answering.
  resetter = createHttpServer((req) => {
    resetterHits++;
    req.resume();
    req.on('end', () => req.socket.destroy());
  });
  await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
  resetterUrl = `http://127.0.0.1:${(resetter.address() as AddressInfo).port}`;
  fx = await startFixture();
  const s = fx.tg.store.services;
  const targets = { dead: [{ url: deadUrl, weight: 1 }, { url: live.url, weight: 1 }], reset: [{ url: resetterUrl, weight: 1 }, { url: live.url, weight: 1 }] };
  for (const [name, list] of [['dead-first', targets.dead], ['reset-get', targets.reset], ['reset-post', targets.reset], ['all-dead', [{ url: deadUrl, weight: 1 }, { url: deadUrl + '/other', weight: 1 }]]] as const) {
    await s.put({ name, targets: [...list], timeoutMs: 5_000, remote: false });
    await s.allow({ service: name, userId: fx.userId, path: '/', methods: ['*'], rpm: null, concurrency: null, timeoutMs: null });
  }
  await fx.tg.sync.pollNow();
});

after(async () => {
  await agent.close();
  await fx.close();
  await live.close();
  resetter.closeAllConnections();
  await new Promise<void>((resolve) => resetter.close(() => resolve()));
});

async function call(path: string, method = 'GET', body?: string) {
  const res = await request(fx.url + path, { method: method as 'GET', headers: { authorization: `Bearer ${fx.key}` }, body, dispatcher: agent });
  return { status: res.statusCode, text: await res.body.text() };
}

function health(service: string, index: number) {
  return fx.tg.services!.router.table.get(service)!.targets[index].health;
}

test('a dead target and a live one: 100 of 100 GETs answered by the live one, the dead one cooled down', async () => {
  const hitsBefore = live.hits;
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(`/svc/dead-first/items/${i}`)));
  assert.deepEqual(results.map((r) => r.status), Array(100).fill(200));
  assert.equal(live.hits - hitsBefore, 100, 'every call reached the live target once');
  const dead = health('dead-first', 0);
  assert.ok(dead.failures >= 1, 'the dead target failed');
  assert.ok(dead.cooldownUntil > Date.now(), 'and is cooling down');
  assert.equal(health('dead-first', 1).failures, 0);
});

test('a POST whose target refuses the connection is sent to the next target with its body intact', async () => {
  // The dead target is cooling: wait it out so the next pick tries it again.
  const dead = health('dead-first', 0);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, dead.cooldownUntil - Date.now()) + 20));
  const failuresBefore = dead.failures;
  const answers = await Promise.all([1, 2].map((n) => call('/svc/dead-first/items', 'POST', `payload-${n}`)));
  for (const [i, answer] of answers.entries()) {
    assert.equal(answer.status, 200);
    assert.equal(JSON.parse(answer.text).body, `payload-${i + 1}`);
  }
  assert.ok(dead.failures > failuresBefore, 'the dead target was tried and failed again');
});

test('a reset after the request was sent: a GET is retried on the next target, a POST is not', async () => {
  const get = await call('/svc/reset-get/items/1');
  assert.equal(get.status, 200, 'GET answered by the live target');
  assert.equal(resetterHits, 1, 'after one attempt on the resetting one');
  assert.ok(health('reset-get', 0).cooldownUntil > Date.now());

  const liveBefore = live.hits;
  const post = await call('/svc/reset-post/items', 'POST', 'once-only');
  assert.equal(post.status, 502, 'a POST the service may have run is not sent twice');
  assert.equal(JSON.parse(post.text).error.code, 'service_unreachable');
  assert.equal(resetterHits, 2);
  assert.equal(live.hits, liveBefore, 'the live target never saw it');
  assert.ok(health('reset-post', 0).cooldownUntil > Date.now(), 'the target still cools down');
});

test('every target down: the call fails after each was tried once', async () => {
  const r = await call('/svc/all-dead/x');
  assert.equal(r.status, 502);
  assert.equal(health('all-dead', 0).failures + health('all-dead', 1).failures, 2);
});
