/**
 * Outbound proxies against real proxies on 127.0.0.1 (test/support/test-proxies.ts):
 * unbound traffic rotates over the global pool; a binding is honoured every
 * time (a key's over its user's); a dead proxy cools and the traffic moves on;
 * a bound request never leaves another way; wrong credentials give a clear
 * error; credentials appear in no log line, admin answer, error or metric.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startConnectProxy, startSocks5Proxy, type TestProxy } from './support/test-proxies.ts';

const USER = 'proxy-user';
const PASSWORD = 'pw-Zq81-never-shown';
const WRONG = 'pw-wrong-Kx07-never-shown';

let fx: Fixture;
let up: MockUpstream;
let httpA: TestProxy;
let httpB: TestProxy;
let socks: TestProxy;
let badHttp: TestProxy;
let badSocks: TestProxy;
const ids: Record<string, number> = {};
let logText = '';

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: any }> {
  const res = await request(`${fx.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: JSON.parse(text) };
}

async function chat(key: string, model = 'px') {
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true }),
  });
  return { status: res.statusCode, text: await res.body.text() };
}

async function proxyRequests(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await fx.tg.gateway.metrics!.render()).body.split('\n')) {
    const m = /^tollgate_proxy_requests_total\{proxy="([^"]+)"\} (\d+)/.exec(line);
    if (m !== null) out[m[1]] = Number(m[2]);
  }
  return out;
}

const delta = (a: Record<string, number>, b: Record<string, number>, name: string) => (b[name] ?? 0) - (a[name] ?? 0);

before(async () => {
  const sink = new Writable({ write(chunk, _enc, done) { logText += chunk.toString(); done(); } });
  fx = await startFixture({ TOLLGATE_UPSTREAM_COOLDOWN_BASE_MS: '60000', TOLLGATE_LOG_LEVEL: 'debug' }, 'alice', pino({ level: 'debug' }, sink));
  up = await startMockUpstream({ chunks: 3 });
  const auth = { username: USER, password: PASSWORD };
  [httpA, httpB, socks, badHttp, badSocks] = await Promise.all([startConnectProxy(auth), startConnectProxy(auth), startSocks5Proxy(auth), startConnectProxy(auth), startSocks5Proxy(auth)]);
  const main = await fx.tg.store.channels.add({ name: 'px', type: 'openai', baseUrl: up.url, models: [{ model: 'px', upstreamModel: 'px' }] });
  await fx.tg.store.channels.addKey(main.id, 'sk-px');
  for (const [name, model] of [['bad-http-channel', 'px-bad-http'], ['bad-socks-channel', 'px-bad-socks']]) {
    const c = await fx.tg.store.channels.add({ name, type: 'openai', baseUrl: up.url, models: [{ model, upstreamModel: 'px' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-px');
    ids[name] = c.id;
  }
  for (const model of ['px', 'px-bad-http', 'px-bad-socks']) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
  const add = async (name: string, body: Record<string, unknown>) => {
    const res = await admin('POST', '/admin/proxies', { name, ...body });
    assert.equal(res.status, 201, res.text);
    ids[name] = res.json.id;
  };
  // Credentials in the URL, and apart.
  await add('http-a', { url: `http://${USER}:${PASSWORD}@127.0.0.1:${httpA.port}` });
  await add('http-b', { url: httpB.url, username: USER, password: PASSWORD });
  await add('socks', { url: `socks5://${USER}:${PASSWORD}@127.0.0.1:${socks.port}` });
  await add('bad-http', { url: `http://${USER}:${WRONG}@127.0.0.1:${badHttp.port}`, channel_id: ids['bad-http-channel'] });
  await add('bad-socks', { url: `socks5://${USER}:${WRONG}@127.0.0.1:${badSocks.port}`, channel_id: ids['bad-socks-channel'] });
});
after(async () => {
  await fx.close();
  await up.close();
  for (const p of [httpA, httpB, socks, badHttp, badSocks]) await p.kill();
});

test('the admin API shows proxies without their credentials, and refuses bad URLs naming url', async () => {
  const list = await admin('GET', '/admin/proxies');
  assert.equal(list.status, 200);
  const a = list.json.data.find((p: any) => p.name === 'http-a');
  assert.equal(a.url, `http://127.0.0.1:${httpA.port}`);
  assert.equal(a.has_credentials, true);
  assert.equal(a.kind, 'http');
  assert.equal(a.routed, true);
  assert.equal(list.json.data.find((p: any) => p.name === 'socks').kind, 'socks5');
  for (const url of ['ftp://u:p@127.0.0.1:21', 'http://127.0.0.1:3128/path', 'socks5://169.254.169.254:1080', 'not a url']) {
    const res = await admin('POST', '/admin/proxies', { name: `bad-${url.length}`, url });
    assert.equal(res.status, 400, url);
    assert.equal(res.json.error.param, 'url');
  }
  const dup = await admin('POST', '/admin/proxies', { name: 'http-a', url: httpA.url });
  assert.equal(dup.status, 409);
  const openapi = await admin('GET', '/admin/openapi.json');
  assert.ok(openapi.json.paths['/admin/proxies'].post);
  assert.ok(openapi.json.components.schemas.Proxy);
});

test('unbound traffic rotates over the global pool, through both kinds of proxy', async () => {
  const before = await proxyRequests();
  const upBefore = up.stats.requests;
  for (let i = 0; i < 30; i++) assert.equal((await chat(fx.key)).status, 200);
  const after = await proxyRequests();
  for (const name of ['http-a', 'http-b', 'socks']) assert.equal(delta(before, after, name), 10, `${name} carried a third`);
  assert.equal(up.stats.requests - upBefore, 30);
  for (const p of [httpA, httpB, socks]) {
    assert.ok(p.stats.tunnels >= 1 && p.stats.bytesUp > 0 && p.stats.bytesDown > 0, 'the proxy really carried the traffic');
    assert.deepEqual([...new Set(p.stats.targets)], [`127.0.0.1:${up.port}`]);
  }
});

test('a user bound to a proxy always leaves through it (100 of 100); a key binding wins over the user\'s', async () => {
  const bob = await fx.newUser('bob');
  const bound = await admin('PUT', '/admin/proxy-bindings', { scope: 'user', subject_id: bob.userId, proxy_id: ids.socks });
  assert.equal(bound.status, 200, bound.text);
  let before = await proxyRequests();
  for (let i = 0; i < 100; i++) assert.equal((await chat(bob.key)).status, 200);
  let after = await proxyRequests();
  assert.equal(delta(before, after, 'socks'), 100);
  assert.equal(delta(before, after, 'http-a') + delta(before, after, 'http-b'), 0);

  assert.equal((await admin('PUT', '/admin/proxy-bindings', { scope: 'key', subject_id: bob.keyId, proxy_id: ids['http-a'] })).status, 200);
  before = await proxyRequests();
  for (let i = 0; i < 10; i++) assert.equal((await chat(bob.key)).status, 200);
  after = await proxyRequests();
  assert.equal(delta(before, after, 'http-a'), 10);
  assert.equal(delta(before, after, 'socks'), 0);
  const bindings = await admin('GET', '/admin/proxy-bindings');
  assert.equal(bindings.json.data.length, 2);
  assert.equal((await admin('DELETE', `/admin/proxy-bindings/key/${bob.keyId}`)).status, 200);
  assert.equal((await admin('DELETE', `/admin/proxy-bindings/user/${bob.userId}`)).status, 200);
  assert.equal((await admin('DELETE', `/admin/proxy-bindings/user/${bob.userId}`)).status, 404);
});

test('wrong credentials: a clear 502 naming the proxy, the proxy cooled, not the channel', async () => {
  const http = await chat(fx.key, 'px-bad-http');
  assert.equal(http.status, 502);
  assert.match(JSON.parse(http.text).error.message, /Outbound proxy 'bad-http' refused its credentials \(status 407\)/);
  assert.ok(badHttp.stats.authFailures >= 1);
  const socksRes = await chat(fx.key, 'px-bad-socks');
  assert.equal(socksRes.status, 502);
  assert.match(JSON.parse(socksRes.text).error.message, /Outbound proxy 'bad-socks' refused its credentials \(UND_ERR_SOCKS5_AUTH_FAILED\)/);
  assert.ok(badSocks.stats.authFailures >= 1);
  const view = await admin('GET', `/admin/proxies/${ids['bad-http']}`);
  assert.equal(view.json.health.cooling, true);
  const channel = await admin('GET', `/admin/channels/${ids['bad-http-channel']}`);
  assert.equal(channel.json.health.cooling, false, 'the channel is not blamed for its proxy');
});

test('a killed proxy: traffic moves to the others, the dead one cools; a user bound to it is refused, not rerouted', async () => {
  const carol = await fx.newUser('carol');
  assert.equal((await admin('PUT', '/admin/proxy-bindings', { scope: 'user', subject_id: carol.userId, proxy_id: ids['http-b'] })).status, 200);
  await httpB.kill();
  const before = await proxyRequests();
  for (let i = 0; i < 20; i++) assert.equal((await chat(fx.key)).status, 200, 'unbound traffic is still served');
  const after = await proxyRequests();
  assert.equal(delta(before, after, 'http-b'), 1, 'one attempt found it dead, then it cooled');
  assert.equal(delta(before, after, 'http-a') + delta(before, after, 'socks'), 20);
  const view = await admin('GET', `/admin/proxies/${ids['http-b']}`);
  assert.equal(view.json.health.cooling, true);
  const failures = (await fx.tg.gateway.metrics!.render()).body;
  assert.match(failures, /tollgate_proxy_failures_total\{proxy="http-b",reason="proxy_unreachable"\} 1/);
  const refused = await chat(carol.key);
  assert.equal(refused.status, 502);
  assert.match(JSON.parse(refused.text).error.message, /Outbound proxy 'http-b' failed: ECONNREFUSED/);
  assert.equal(delta(after, await proxyRequests(), 'http-a') + delta(after, await proxyRequests(), 'socks'), 0, 'the bound request went nowhere else');
  // A disabled proxy: its bound traffic is refused with 503, still not rerouted.
  assert.equal((await admin('PATCH', `/admin/proxies/${ids['http-b']}`, { enabled: false })).status, 200);
  const disabled = await chat(carol.key);
  assert.equal(disabled.status, 503);
  assert.match(JSON.parse(disabled.text).error.message, /bound to is disabled or removed/);
});

test('credentials appear in no log line, admin answer or metric', async () => {
  const admins = [await admin('GET', '/admin/proxies'), await admin('GET', `/admin/proxies/${ids.socks}`), await admin('GET', '/admin/proxy-bindings'), await admin('GET', '/admin/openapi.json')];
  const metrics = (await fx.tg.gateway.metrics!.render()).body;
  await fx.tg.accounting!.writer.flush();
  assert.ok(logText.length > 1000, 'the log was captured');
  for (const secret of [PASSWORD, WRONG, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), Buffer.from(`${USER}:${WRONG}`).toString('base64')]) {
    assert.ok(!logText.includes(secret), 'not in the log');
    for (const a of admins) assert.ok(!a.text.includes(secret), 'not in an admin answer');
    assert.ok(!metrics.includes(secret), 'not in the metrics');
  }
  const row = await fx.tg.store.db.selectFrom('proxies').select('credentials').where('name', '=', 'socks').executeTakeFirstOrThrow();
  assert.match(row.credentials!, /^v1:/, 'sealed at rest');
  assert.ok(!row.credentials!.includes(PASSWORD));
});
