/**
 * Two gateways sharing one store: spending on one reaches the other's live
 * balances through the periodic refresh (metering.balanceRefreshMs), so a user
 * cannot spend the same credits once per node.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const fixtures: Fixture[] = [];
after(async () => {
  for (const f of fixtures.slice(1)) await f.tg.close();
  await fixtures[0]?.close();
});

function chat(base: string, key: string) {
  return request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'pay' }], max_tokens: 10 }),
  });
}

test("a node sees the other node's spending within the refresh interval", async () => {
  const env = { TOLLGATE_METERING_BALANCE_REFRESH_MS: '100', TOLLGATE_METERING_FLUSH_INTERVAL_MS: '10' };
  const a = await startFixture(env);
  fixtures.push(a);
  const b = await startFixture({ ...env, TOLLGATE_DATA_DIR: a.dataDir }, 'bob');
  fixtures.push(b);
  // Completion tokens only, fixed by max_tokens: every request costs exactly 30,000 µcredits.
  await a.tg.store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
  const payer = await a.newUser('payer', 5 * 30_000);
  await Promise.all([a.tg.sync.pollNow(), b.tg.sync.pollNow()]);

  const first = await chat(b.url, payer.key); // B loads the balance and spends 1 of 5
  assert.equal(first.statusCode, 200);
  await first.body.json();
  await b.tg.accounting!.writer.flush();

  for (let i = 0; i < 4; i++) {
    const r = await chat(a.url, payer.key); // A loads 4 left and spends them
    assert.equal(r.statusCode, 200, `request ${i} on A`);
    await r.body.json();
  }
  const refused = await chat(a.url, payer.key);
  assert.equal(refused.statusCode, 402);
  await refused.body.json();
  await a.tg.accounting!.writer.flush();

  // B still holds "4 left" until it re-reads the store.
  await new Promise((r) => setTimeout(r, 400));
  const late = await chat(b.url, payer.key);
  assert.equal(late.statusCode, 402, 'B refused: it saw A spend the rest');
  await late.body.json();
  const balance = (await (await fetch(`${b.url}/api/v1/balance`, { headers: { authorization: `Bearer ${payer.key}` } })).json()) as any;
  assert.equal(balance.balance_micros, 0);
  assert.equal((await a.tg.store.users.byId(payer.userId))!.balanceMicros, 0);
});
