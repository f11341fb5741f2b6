/** Service routes on one node: privileges, limits, deadline, timeouts, records. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startTestService, type TestService } from './support/service-upstream.ts';

let fx: Fixture;
let svc: TestService;
let bob: { userId: number; key: string };
const agent = new Agent({ connections: 256 });

before(async () => {
  svc = await startTestService();
  fx = await startFixture();
  bob = await fx.newUser('bob');
  const s = fx.tg.store.services;
  await s.put({ name: 'echo', targets: [{ url: svc.url + '/base', weight: 1 }], timeoutMs: 5_000, remote: false });
  await s.allow({ service: 'echo', userId: fx.userId, path: '/items/', methods: ['GET', 'POST'], rpm: null, concurrency: null, timeoutMs: null });
  await s.allow({ service: 'echo', userId: fx.userId, path: '/files/*/meta', methods: ['*'], rpm: null, concurrency: null, timeoutMs: null });
  await s.allow({ service: 'echo', userId: fx.userId, path: '/limited', methods: ['POST'], rpm: 100, concurrency: null, timeoutMs: null });
  await s.allow({ service: 'echo', userId: fx.userId, path: '/slow', methods: ['GET'], rpm: null, concurrency: null, timeoutMs: 200 });
  await s.allow({ service: 'echo', userId: fx.userId, path: '/reset', methods: ['GET'], rpm: null, concurrency: null, timeoutMs: null });
  await fx.tg.sync.pollNow();
});

after(async () => {
  await agent.close();
  await fx.close();
  await svc.close();
});

async function call(path: string, opts: { method?: string; key?: string | null; headers?: Record<string, string>; body?: string } = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? fx.key : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await request(fx.url + path, { method: (opts.method ?? 'GET') as 'GET', headers, body: opts.body, dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

test('privilege table: allowed, denied path, denied method, other caller, unknown key, no key, unknown service', async () => {
  const ok = await call('/svc/echo/items/42?x=1', { method: 'POST', body: 'hello' });
  assert.equal(ok.status, 200);
  const echoed = ok.json();
  assert.equal(echoed.path, '/base/items/42?x=1');
  assert.equal(echoed.body, 'hello');
  assert.equal(echoed.caller, String(fx.userId));
  assert.equal(echoed.auth, null, 'the Tollgate key is not passed on');
  assert.equal(ok.headers['x-service'], 'echo');
  assert.equal((await call('/svc/echo/files/a/meta')).status, 200);
  assert.equal((await call('/svc/echo/files/a/b/meta')).status, 403, '* is one segment');
  assert.equal((await call('/svc/echo/other')).status, 403);
  assert.equal((await call('/svc/echo/items/1', { method: 'DELETE' })).status, 403);
  const bobs = await call('/svc/echo/items/1', { key: bob.key });
  assert.equal(bobs.status, 403);
  assert.equal(bobs.json().error.code, 'service_forbidden');
  assert.equal((await call('/svc/echo/items/1', { key: 'tg-not-a-key' })).status, 401);
  assert.equal((await call('/svc/echo/items/1', { key: null })).json().error.code, 'missing_api_key');
  assert.equal((await call('/svc/nope/items/1')).status, 404);
});

let refusedCount = 0;

test('RPM 100 under 1,000 concurrent calls: a burst of exactly 100, then only what the sliding window drained', async () => {
  const before = svc.hits;
  const started = Date.now();
  const results = await Promise.all(Array.from({ length: 1000 }, () => call('/svc/echo/limited', { method: 'POST', body: 'x' })));
  const elapsed = Date.now() - started;
  const counts = new Map<number, number>();
  for (const r of results) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const admitted = counts.get(200) ?? 0;
  // The limiter's window slides (GCRA): 100/min drains one slot every 600 ms,
  // so a run of `elapsed` ms may admit floor(elapsed / 600) more than the burst of 100.
  assert.ok(admitted >= 100 && admitted <= 100 + Math.floor(elapsed / 600), `admitted ${admitted} in ${elapsed} ms`);
  assert.equal(counts.get(429), 1000 - admitted);
  assert.equal(svc.hits - before, admitted, 'the service saw exactly the admitted calls');
  refusedCount = 1000 - admitted;
  const refused = results.find((r) => r.status === 429)!;
  assert.ok(Number(refused.headers['retry-after']) >= 1);
});

test('deadline: passed → 504 without calling the service; near → cut at the deadline; absent → rule timeout; passed on', async () => {
  const hits = svc.hits;
  const passed = await call('/svc/echo/items/1', { headers: { 'x-tollgate-deadline': String(Date.now() - 1) } });
  assert.equal(passed.status, 504);
  assert.equal(passed.json().error.code, 'deadline_exceeded');
  assert.equal(svc.hits, hits);
  const far = String(Date.now() + 60_000);
  const ok = await call('/svc/echo/items/1', { headers: { 'x-tollgate-deadline': far } });
  assert.equal(ok.json().deadline, far, 'the deadline travels to the next hop');
  assert.equal((await call('/svc/echo/items/1', { headers: { 'x-tollgate-deadline': 'soon' } })).status, 400);
  // /slow answers after 2 s; the rule's timeout is 200 ms, a deadline 100 ms away cuts sooner.
  const near = await call('/svc/echo/slow?ms=2000', { headers: { 'x-tollgate-deadline': String(Date.now() + 100) } });
  assert.equal(near.status, 504);
  assert.match(near.json().error.message, /deadline/);
  const absent = await call('/svc/echo/slow?ms=2000');
  assert.equal(absent.status, 504);
  assert.equal(absent.json().error.code, 'service_timeout');
});

test('upstream reset mid-body: the client sees a cut body (the call is still recorded)', async () => {
  await assert.rejects(call('/svc/echo/reset'));
});

test('every call is recorded in service_calls, and counted in metrics', async () => {
  await fx.tg.services!.router.writer.flush();
  const rows = await fx.tg.store.services.calls('echo', 5000);
  assert.ok(rows.length >= 100);
  const item = rows.find((r) => r.path === '/items/42' && r.method === 'POST')!;
  assert.equal(item.status, 200);
  assert.equal(item.user_id, fx.userId);
  assert.equal(item.bytes_in, 5);
  assert.ok(item.bytes_out > 0);
  assert.ok(item.rule_id !== null);
  assert.equal(rows.filter((r) => r.path === '/limited' && r.status === 429).length, refusedCount);
  assert.ok(rows.some((r) => r.path === '/reset' && r.status === 200 && r.bytes_out > 0));
  const metrics = await (await request(fx.url + '/metrics')).body.text();
  assert.ok(metrics.includes(`tollgate_service_requests_total{service="echo",status="429"} ${refusedCount}`));
  assert.match(metrics, /tollgate_service_request_duration_seconds_count\{service="echo"\} \d+/);
});

test('a rule added through the store reaches the running node through the change feed', async () => {
  assert.equal((await call('/svc/echo/new')).status, 403);
  await fx.tg.store.services.allow({ service: 'echo', userId: fx.userId, path: '/new', methods: ['GET'], rpm: null, concurrency: null, timeoutMs: null });
  await fx.tg.sync.pollNow();
  assert.equal((await call('/svc/echo/new')).status, 200);
});

test('admin API: services and rules (happy, error, security)', async () => {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const put = await request(`${fx.url}/admin/services/api2`, { method: 'PUT', headers: admin, body: JSON.stringify({ targets: [{ url: svc.url, weight: 2 }], timeout_ms: 1000 }) });
  assert.equal(put.statusCode, 200);
  assert.equal((await put.body.json() as { name: string }).name, 'api2');
  const rule = await request(`${fx.url}/admin/service-rules`, { method: 'PUT', headers: admin, body: JSON.stringify({ service: 'api2', user_id: bob.userId, path: '/', methods: ['GET'], rpm: 10 }) });
  assert.equal(rule.statusCode, 200);
  const ruleId = (await rule.body.json() as { id: number }).id;
  assert.equal((await call('/svc/api2/anything', { key: bob.key })).status, 200);
  const list = await request(`${fx.url}/admin/service-rules?service=api2`, { headers: admin });
  assert.equal((await list.body.json() as { data: unknown[] }).data.length, 1);
  const missing = await request(`${fx.url}/admin/service-rules`, { method: 'PUT', headers: admin, body: JSON.stringify({ service: 'nope', user_id: bob.userId, path: '/' }) });
  assert.equal(missing.statusCode, 404);
  await missing.body.dump();
  const badPath = await request(`${fx.url}/admin/service-rules`, { method: 'PUT', headers: admin, body: JSON.stringify({ service: 'api2', user_id: bob.userId, path: 'x' }) });
  assert.equal(badPath.statusCode, 400);
  await badPath.body.dump();
  const noToken = await request(`${fx.url}/admin/services`);
  assert.equal(noToken.statusCode, 401);
  await noToken.body.dump();
  const del = await request(`${fx.url}/admin/service-rules/${ruleId}`, { method: 'DELETE', headers: { authorization: admin.authorization } });
  assert.equal(del.statusCode, 200);
  await del.body.dump();
  assert.equal((await call('/svc/api2/anything', { key: bob.key })).status, 403);
  const delSvc = await request(`${fx.url}/admin/services/api2`, { method: 'DELETE', headers: { authorization: admin.authorization } });
  assert.equal(delSvc.statusCode, 200);
  await delSvc.body.dump();
  assert.equal((await call('/svc/api2/anything', { key: bob.key })).status, 404);
});
