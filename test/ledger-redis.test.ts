/**
 * The Redis credit ledger piece by piece: a replayed settlement or commit
 * notice applies once; a lost balance is rebuilt with the debits committed
 * after its read; Redis down fails priced requests closed (503) and leaves
 * free ones alone, or under the 'local' policy spends from the node's own
 * ledger; reconciliation reports drift.
 */
import { ShardMap } from '../src/limiter/redis-shards.ts';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { RedisLimiter } from '../src/limiter/redis-limiter.ts';
import { RedisCredits, RedisHold, type RedisCreditStore } from '../src/metering/redis-credits.ts';
import { reconcileLedger } from '../src/metering/ledger-reconcile.ts';
import { startFixture } from './support/gateway-fixture.ts';
import { freePort } from './support/serve-process.ts';

const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `tollgate-test-ledger-unit-${process.pid}-${Date.now()}:`;
const redis = new Redis(REDIS_URL);
after(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** A store with one user whose (balance, debit_seq) the test sets; no credit events. */
function fakeStore(state: { balanceMicros: number; debitSeq: number }): RedisCreditStore {
  return {
    users: { ledgerState: async () => ({ ...state }) },
    events: { latestId: async () => 0, since: async () => [] },
  };
}

function ledgerOf(store: RedisCreditStore, prefix: string) {
  const shardMap = new ShardMap(prefix, 'rl', 1);
  const credits = new RedisCredits({ shards: shardMap, store, overdraftMicros: 0, local: null });
  const limiter = new RedisLimiter({ redis: REDIS_URL, shardMap, credits, failPolicy: 'closed' });
  return { credits, limiter };
}

async function live(prefix: string, userId: number) {
  const [bal, res] = await redis.hmget(`${prefix}{rl}:b:${userId}`, 'bal', 'res');
  return { bal: Number(bal), res: Number(res) };
}

const ask = (holdId: string, micros: number) => ({ policies: [], tokens: 0, credit: { userId: 7, micros, holdId } });

test('a replayed settlement and a replayed commit notice are applied once', async () => {
  const prefix = `${PREFIX}replay:`;
  const state = { balanceMicros: 1_000, debitSeq: 4 };
  const { credits, limiter } = ledgerOf(fakeStore(state), prefix);
  try {
    const a = await limiter.admit(ask('r1', 600));
    assert.equal(a.allowed, true);
    assert.deepEqual(await live(prefix, 7), { bal: 1_000, res: 600 }, 'loaded from the store, hold taken');
    assert.equal((await limiter.admit(ask('r2', 500))).allowed, false, '600 held of 1,000: 500 does not fit');

    const hold = (a as unknown as { hold: RedisHold }).hold;
    limiter.settleCredit(hold, 250);
    await limiter.flush();
    assert.deepEqual(await live(prefix, 7), { bal: 1_000, res: 250 }, 'the hold shrinks to the cost until the commit');
    credits.requeue([hold]); // a call whose reply was lost is sent again
    await limiter.flush();
    assert.deepEqual(await live(prefix, 7), { bal: 1_000, res: 250 }, 'replayed settlement: no change');

    const record = { requestId: 'r1', userId: 7, costMicros: 250 } as never;
    const result = { inserted: 1, balanceDeltas: new Map([[7, -250]]), debitSeqs: new Map([[7, 5]]) };
    credits.committed(result, [record]);
    credits.committed(result, [record]);
    await credits.flush();
    assert.deepEqual(await live(prefix, 7), { bal: 750, res: 0 }, 'committed once: the cost moves from the hold to the balance');
    credits.committed({ ...result, debitSeqs: new Map([[7, 4]]) }, [record]);
    await credits.flush();
    assert.equal((await live(prefix, 7)).bal, 750, 'a debit the load already read (debit_seq ≤ 4) is not applied');
  } finally {
    await limiter.close();
  }
});

test('a balance lost between a settlement and its commit is rebuilt, and the later commit still applies once', async () => {
  const prefix = `${PREFIX}rebuild:`;
  const state = { balanceMicros: 1_000, debitSeq: 0 };
  const { credits, limiter } = ledgerOf(fakeStore(state), prefix);
  try {
    const a = await limiter.admit(ask('x1', 400));
    limiter.settleCredit((a as unknown as { hold: RedisHold }).hold, 400);
    await limiter.flush();
    await redis.del(`${prefix}{rl}:b:7`); // eviction or restart; the store has not committed x1 yet
    // The rebuild reads the store (1,000, seq 0) after which x1 commits (seq 1) and its notice arrives.
    assert.equal((await limiter.admit(ask('x2', 100))).allowed, true);
    credits.committed({ inserted: 1, balanceDeltas: new Map([[7, -400]]), debitSeqs: new Map([[7, 1]]) }, [{ requestId: 'x1', userId: 7, costMicros: 400 } as never]);
    await credits.flush();
    assert.deepEqual(await live(prefix, 7), { bal: 600, res: 100 });
    state.balanceMicros = 600;
    state.debitSeq = 1;
    const report = await reconcileLedger(credits, fakeStore(state), null);
    assert.deepEqual(report, { compared: 1, lagging: 0, drifting: 0, driftMicros: 0 });
    await redis.hset(`${prefix}{rl}:b:7`, 'bal', '650'); // a lost notice, say
    const drifted = await reconcileLedger(credits, fakeStore(state), null);
    assert.equal(drifted.driftMicros, 50);
    assert.equal(drifted.drifting, 1);
  } finally {
    await limiter.close();
  }
});

async function priced(fx: { tg: { store: { prices: { set(p: object): Promise<unknown> } } } }): Promise<void> {
  await fx.tg.store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
}

function chat(base: string, key: string, model: string) {
  return request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }),
  });
}

/** A redis-server of the test's own (stopping it is the outage; never the shared one). */
async function ownRedis(port: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 20 });
  probe.on('error', () => undefined);
  for (let i = 0; i < 250 && probe.status !== 'ready'; i++) {
    await probe.connect().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
  }
  probe.disconnect();
  return {
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

test('Redis down: priced requests fail closed with 503, free ones are served; once back (empty), balances are rebuilt from the store', async () => {
  const port = await freePort();
  let server = await ownRedis(port);
  const fx = await startFixture({ REDIS_URL: `redis://127.0.0.1:${port}`, TOLLGATE_REDIS_KEY_PREFIX: `${PREFIX}down:` });
  try {
    await priced(fx);
    const payer = await fx.newUser('payer', 2 * 30_000);
    await fx.tg.sync.pollNow();
    const before = await chat(fx.url, payer.key, 'mock-gpt');
    assert.equal(before.statusCode, 200);
    await before.body.text();
    await server.stop();

    const paid = await chat(fx.url, payer.key, 'mock-gpt');
    assert.equal(paid.statusCode, 503);
    assert.equal(((await paid.body.json()) as { error: { code: string } }).error.code, 'ledger_unavailable');
    const free = await chat(fx.url, payer.key, 'mock-gpt-large');
    assert.equal(free.statusCode, 200);
    await free.body.text();

    await fx.tg.accounting!.writer.flush();
    server = await ownRedis(port); // a restart: every key gone
    await fx.tg.gateway.limiter.ready(3_000);
    await new Promise((r) => setTimeout(r, 1_100)); // past the breaker
    const codes: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await chat(fx.url, payer.key, 'mock-gpt');
      await r.body.text();
      codes.push(r.statusCode);
    }
    assert.deepEqual(codes, [200, 402], 'one request left, read from the store');
  } finally {
    await fx.close();
    await server.stop();
  }
});

test("Redis down under the 'local' policy: the node spends from its own ledger, exactly its balance", async () => {
  const port = await freePort();
  const server = await ownRedis(port);
  const fx = await startFixture({ REDIS_URL: `redis://127.0.0.1:${port}`, TOLLGATE_REDIS_KEY_PREFIX: `${PREFIX}local:`, TOLLGATE_REDIS_CREDIT_FAIL_POLICY: 'local' });
  try {
    await priced(fx);
    const payer = await fx.newUser('payer', 3 * 30_000);
    await fx.tg.sync.pollNow();
    await server.stop();
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await chat(fx.url, payer.key, 'mock-gpt');
      await r.body.text();
      codes.push(r.statusCode);
    }
    assert.deepEqual(codes, [200, 200, 200, 402, 402]);
    await fx.tg.accounting!.writer.flush();
    assert.equal((await fx.tg.store.users.byId(payer.userId))!.balanceMicros, 0);
  } finally {
    await fx.close();
  }
});

test('a gateway starts while Redis is unreachable: free requests are served, priced ones fail closed (503)', async () => {
  const port = await freePort(); // nothing listens there
  // Before, start-up waited for the change doorbell's subscription, i.e. for Redis, forever.
  const fx = await startFixture({ REDIS_URL: `redis://127.0.0.1:${port}`, TOLLGATE_REDIS_KEY_PREFIX: `${PREFIX}never:` });
  try {
    await priced(fx);
    const payer = await fx.newUser('payer', 2 * 30_000);
    await fx.tg.sync.pollNow();
    const free = await chat(fx.url, payer.key, 'mock-gpt-large');
    assert.equal(free.statusCode, 200);
    await free.body.text();
    const paid = await chat(fx.url, payer.key, 'mock-gpt');
    assert.equal(paid.statusCode, 503);
    await paid.body.text();
  } finally {
    await fx.close();
  }
});
