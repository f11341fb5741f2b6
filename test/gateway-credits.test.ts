/**
 * Credits through the hot path, on both stores: 500 concurrent requests with a
 * balance for exactly K → exactly K succeed, the rest get 402, and the final
 * balance equals the start minus the sum of logged costs, to the micro-credit.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Agent, request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const agent = new Agent({ connections: 128 });
after(() => agent.close());

const stores: Array<{ name: string; env: () => Record<string, string>; cleanup: (schema: string) => Promise<void> }> = [
  { name: 'sqlite', env: () => ({}), cleanup: async () => {} },
  {
    name: 'postgres',
    env: () => ({ DATABASE_URL: PG_URL, TOLLGATE_POSTGRES_SCHEMA: `tg_credits_${process.pid}_${Date.now()}` }),
    cleanup: async (schema) => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists "${schema}" cascade`);
      await c.end();
    },
  },
];

for (const s of stores) {
  test(`${s.name}: exactly K of 500 concurrent requests are paid for; balance = start − Σ logged costs`, async () => {
    const env = s.env();
    const fx: Fixture = await startFixture(env);
    try {
      // Price only completion tokens, and fix them with max_tokens, so a request's reservation equals its cost.
      const costPerRequest = 10 * 3_000; // 10 tokens × 3,000 µcredits per token
      await fx.tg.store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
      const K = 137;
      const start = K * costPerRequest;
      const u = await fx.newUser('payer', start);
      await fx.tg.sync.pollNow();
      const responses = await Promise.all(Array.from({ length: 500 }, () => request(`${fx.url}/v1/chat/completions`, {
        dispatcher: agent,
        method: 'POST',
        headers: { authorization: `Bearer ${u.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'pay me' }], max_tokens: 10 }),
      })));
      const bodies = await Promise.all(responses.map((r) => r.body.json() as Promise<any>));
      const ok = responses.filter((r) => r.statusCode === 200).length;
      const paymentRequired = responses.map((r, i) => ({ r, b: bodies[i] })).filter(({ r }) => r.statusCode === 402);
      assert.equal(ok, K);
      assert.equal(paymentRequired.length, 500 - K);
      assert.equal(paymentRequired[0].b.error.code, 'insufficient_quota');

      await fx.tg.accounting!.writer.flush();
      const rows = [];
      let cursor: string | undefined;
      do {
        const page = await fx.tg.store.usage.page({ userId: u.userId, limit: 1000, cursor });
        rows.push(...page.records);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const paid = rows.filter((r) => r.outcome === 'ok');
      assert.equal(paid.length, K);
      assert.equal(rows.filter((r) => r.outcome === 'refused').length, 500 - K, 'refusals are recorded, marked so');
      const logged = paid.reduce((sum, r) => sum + r.costMicros, 0);
      const balance = (await fx.tg.store.users.byId(u.userId))!.balanceMicros;
      assert.equal(balance, start - logged);
      assert.equal(balance, 0);
      const api = await (await fetch(`${fx.url}/api/v1/balance`, { headers: { authorization: `Bearer ${u.key}` } })).json() as any;
      assert.equal(api.balance_micros, 0);
      assert.equal(api.reserved_micros, 0);
      const metrics = await (await fetch(`${fx.url}/metrics`)).text();
      if (s.name === 'postgres') assert.match(metrics, /^tollgate_pool_connections\{pool="db",state="(total|idle)"\} \d+$/m);
    } finally {
      await fx.close();
      await s.cleanup(env.TOLLGATE_POSTGRES_SCHEMA ?? '');
    }
  });
}
