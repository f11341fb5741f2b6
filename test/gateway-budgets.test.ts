/**
 * Spend budgets through the hot path: exactly K of 200 concurrent requests
 * pass a budget for K (SQLite + memory limiter, PostgreSQL + Redis), the 402
 * in both protocols' shapes, settlement at the real cost, free models, the
 * admin API and account API, and a budget written to the store reaching a
 * running gateway through the change feed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const agent = new Agent({ connections: 128 });
after(() => agent.close());

// Only completion tokens are priced and max_tokens fixes them: a request reserves exactly what it costs.
const PER_REQUEST = 10 * 3_000;
const PRICED = 'mock-gpt-large';

async function post(fx: Fixture, key: string, path: string, body: Record<string, unknown>) {
  const r = await request(`${fx.url}${path}`, {
    dispatcher: agent,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.statusCode, headers: r.headers, body: (await r.body.json()) as any };
}

const chat = (fx: Fixture, key: string, model = PRICED, extra: Record<string, unknown> = { max_tokens: 10 }) =>
  post(fx, key, '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'spend' }], ...extra });

async function adminCall(fx: Fixture, method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown, token = ADMIN_TOKEN) {
  const r = await request(`${fx.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.statusCode, body: (await r.body.json()) as any };
}

async function price(fx: Fixture): Promise<void> {
  await fx.tg.store.prices.set({ model: PRICED, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
}

const setups = [
  { name: 'SQLite + memory limiter', midnights: [0], env: (): Record<string, string> => ({}), cleanup: async (_env: Record<string, string>) => {} },
  {
    name: 'PostgreSQL + Redis',
    // Midnight in New York, in UTC: EST or EDT.
    midnights: [4, 5],
    env: (): Record<string, string> => ({
      DATABASE_URL: PG_URL,
      TOLLGATE_POSTGRES_SCHEMA: `tg_budgets_${process.pid}_${Date.now()}`,
      REDIS_URL,
      TOLLGATE_REDIS_KEY_PREFIX: `tollgate-test-${randomBytes(4).toString('hex')}:`,
      TOLLGATE_BUDGETS_TIME_ZONE: 'America/New_York',
    }),
    cleanup: async (env: Record<string, string>) => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists "${env.TOLLGATE_POSTGRES_SCHEMA}" cascade`);
      await c.end();
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${env.TOLLGATE_REDIS_KEY_PREFIX}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  },
];

for (const s of setups) {
  test(`${s.name}: a day budget for exactly 7 requests admits exactly 7 of 200 concurrent ones; the rest get 402 naming it`, async () => {
    const env = s.env();
    const fx = await startFixture(env);
    try {
      await price(fx);
      const u = await fx.newUser('capped', 100_000_000);
      const set = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'user', subject_id: u.userId, period: 'day', limit_micros: 7 * PER_REQUEST });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const responses = await Promise.all(Array.from({ length: 200 }, () => chat(fx, u.key)));
      assert.equal(responses.filter((r) => r.status === 200).length, 7);
      const refused = responses.filter((r) => r.status === 402);
      assert.equal(refused.length, 193);
      const e = refused[0].body.error;
      assert.deepEqual([e.type, e.code], ['insufficient_quota', 'budget_exceeded']);
      assert.match(e.message, /^Spend budget reached for user 'capped', day \(calendar\): Limit 210000 micro-credits, spent 210000 \(requests in flight included\); this request needs up to 30000\. The budget resets at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in (?:\d+h)?(?:\d+m)?[\d.]+m?s\)\.$/); // how long is left depends on the hour the test runs
      const resetAt = Date.parse(/resets at (\S+) /.exec(e.message)![1]);
      const retryAfter = Number(refused[0].headers['retry-after']);
      assert.ok(Math.abs(Date.now() + retryAfter * 1000 - resetAt) < 5_000, 'Retry-After points at the reset');
      const reset = new Date(resetAt);
      assert.ok(s.midnights.includes(reset.getUTCHours()) && reset.getUTCMinutes() === 0, `the next midnight of the configured zone, not ${reset.toISOString()}`);

      // Settled at the real cost: the budget holds what the records say.
      await fx.tg.accounting!.writer.flush();
      const paid = (await fx.tg.store.usage.page({ userId: u.userId, limit: 1000 })).records.filter((r) => r.outcome === 'ok');
      const listed = await adminCall(fx, 'GET', `/admin/budgets?scope=user&subject_id=${u.userId}`);
      assert.equal(listed.body.data.length, 1);
      const b = listed.body.data[0];
      assert.deepEqual([b.spent_micros, b.remaining_micros, b.mode], [paid.reduce((sum, r) => sum + r.costMicros, 0), 0, 'calendar']);
      const balance = await (await fetch(`${fx.url}/api/v1/balance`, { headers: { authorization: `Bearer ${u.key}` } })).json() as any;
      assert.deepEqual(balance.budgets, [{ scope: 'user', period: 'day', mode: 'calendar', limit_micros: 210_000, spent_micros: 210_000, remaining_micros: 0, resets_at: resetAt }]);

      const metrics = await (await fetch(`${fx.url}/metrics`)).text();
      assert.match(metrics, /^tollgate_budget_refusals_total\{scope="user",period="day"\} 193$/m);
      assert.match(metrics, /^tollgate_limiter_decisions_total\{kind="budget",decision="denied"\} 193$/m);
    } finally {
      await fx.close();
      await s.cleanup(env);
    }
  });
}

test('gateway: a cheaper answer than reserved frees budget; free models are never refused; the 402 in the Anthropic shape; a store edit reaches the gateway', async () => {
  const fx = await startFixture();
  try {
    // Priced by prompt tokens only: a request reserves its prompt estimate plus a margin, more than it then costs.
    await fx.tg.store.prices.set({ model: PRICED, channelId: null, inputMicrosPerMTok: 1_000 * 1_000_000, outputMicrosPerMTok: 0, free: false });
    const u = await fx.newUser('settler', 1_000_000_000);
    assert.equal((await chat(fx, u.key)).status, 200);
    await fx.tg.accounting!.writer.flush();
    const cost = (await fx.tg.store.usage.page({ userId: u.userId, limit: 1 })).records[0].costMicros;
    const budget = { scope: 'key', subjectId: u.keyId, period: 'hour', mode: 'rolling' } as const;
    await fx.tg.store.budgets.set({ ...budget, limitMicros: 0 });
    await fx.tg.sync.pollNow();
    const probe = await chat(fx, u.key);
    assert.equal(probe.status, 402);
    const reserved = Number(/this request needs up to (\d+)\./.exec(probe.body.error.message)![1]);
    assert.ok(reserved > cost, `reservation ${reserved} > cost ${cost}`);
    // Room for one reservation and one real cost: the second request fits only if the first was settled at its cost.
    await fx.tg.store.budgets.set({ ...budget, limitMicros: reserved + cost });
    await fx.tg.sync.pollNow();
    assert.equal((await chat(fx, u.key)).status, 200);
    assert.equal((await chat(fx, u.key)).status, 200);
    const third = await chat(fx, u.key);
    assert.equal(third.status, 402);
    assert.match(third.body.error.message, new RegExp(`^Spend budget reached for key 'test' of user 'settler', rolling hour: Limit ${reserved + cost} micro-credits, spent ${2 * cost} `));
    const [usage] = await fx.tg.gateway.limiter.budgetUsage(fx.tg.gateway.policies.budgetsFor(u.userId, u.keyId));
    assert.equal(usage.spentMicros, 2 * cost);

    await fx.tg.store.budgets.remove((await fx.tg.store.budgets.find('key', u.keyId, 'hour'))!.id);
    await fx.tg.sync.pollNow();
    assert.equal((await chat(fx, u.key)).status, 200, 'a removed budget no longer applies');

    // A budget of 0 blocks every priced request, and no free one.
    await fx.tg.store.budgets.set({ scope: 'user', subjectId: u.userId, period: 'month', mode: 'calendar', limitMicros: 0 });
    // No pollNow: the running gateway learns it from the change feed (polled every 50 ms here).
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) {
      status = (await chat(fx, u.key)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 402);
    assert.equal((await chat(fx, u.key, 'mock-gpt')).status, 200, 'a free model costs 0 and is never refused by a budget');

    const messages = await post(fx, u.key, '/v1/messages', { model: PRICED, max_tokens: 10, messages: [{ role: 'user', content: 'spend' }] });
    assert.equal(messages.status, 402);
    assert.equal(messages.body.type, 'error');
    assert.equal(messages.body.error.type, 'billing_error');
    assert.match(messages.body.error.message, /^Spend budget reached for user 'settler', month \(calendar\): Limit 0 micro-credits, .* The budget resets at \d{4}-\d\d-01T00:00:00\.000Z/);
  } finally {
    await fx.close();
  }
});

test('admin API: budgets round trip, bad input named, unknown subject 404, no token 401', async () => {
  const fx = await startFixture();
  try {
    const put = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'key', subject_id: fx.keyId, period: 'week', mode: 'rolling', limit_micros: 5_000_000 });
    assert.equal(put.status, 200);
    assert.deepEqual({ ...put.body, id: 0, created_at: 0 }, {
      object: 'budget', id: 0, scope: 'key', subject_id: fx.keyId, user_id: fx.userId, period: 'week', mode: 'rolling', limit_micros: 5_000_000,
      spent_micros: 0, remaining_micros: 5_000_000, resets_at: null, created_at: 0,
    });
    // One budget per subject and period: a second PUT replaces it.
    const replaced = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'key', subject_id: fx.keyId, period: 'week', limit_micros: 7 });
    assert.deepEqual([replaced.body.id, replaced.body.mode, replaced.body.limit_micros], [put.body.id, 'calendar', 7]);
    assert.equal((await adminCall(fx, 'GET', '/admin/budgets')).body.data.length, 1);

    const bad = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'key', subject_id: fx.keyId, period: 'fortnight', limit_micros: 1 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'period');
    const negative = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'user', subject_id: fx.userId, period: 'day', limit_micros: -1 });
    assert.deepEqual([negative.status, negative.body.error.param], [400, 'limit_micros']);
    const unknown = await adminCall(fx, 'PUT', '/admin/budgets', { scope: 'user', subject_id: 999_999, period: 'day', limit_micros: 1 });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /no user with id 999999/i);
    assert.equal((await adminCall(fx, 'GET', '/admin/budgets', undefined, 'wrong-token-0123456789')).status, 401);

    assert.equal((await adminCall(fx, 'DELETE', `/admin/budgets/${put.body.id}`)).status, 200);
    assert.equal((await adminCall(fx, 'DELETE', `/admin/budgets/${put.body.id}`)).status, 404);
    assert.deepEqual((await adminCall(fx, 'GET', '/admin/budgets')).body.data, []);
    const doc = (await adminCall(fx, 'GET', '/admin/openapi.json')).body;
    assert.deepEqual(Object.keys(doc.paths['/admin/budgets']).sort(), ['get', 'put']);
    assert.ok(doc.components.schemas.Budget !== undefined);
  } finally {
    await fx.close();
  }
});
