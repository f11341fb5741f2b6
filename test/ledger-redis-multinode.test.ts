/**
 * Money exact across nodes: four `tollgate serve` processes on one Redis and
 * one PostgreSQL schema. A balance for exactly K requests admits exactly K of
 * 1,000 concurrent ones, whichever nodes they hit; after the writers flush,
 * store balance = Redis balance = initial − Σ recorded costs. The nodes are
 * restarted between runs (the state is in Redis and SQL, not in a node), an
 * admin credit reaches Redis once although four nodes see it, and a Redis
 * balance deleted under them is rebuilt from the store.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { openStore, type Store } from '../src/store/store.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../src/keys/client-key.ts';
import { startServe, type ServeProcess } from './support/serve-process.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const tag = `${process.pid}_${Date.now()}`;
const SCHEMA = `tg_ledger_${tag}`;
const PREFIX = `tollgate-test-ledger-${tag}:`;
/** Completion tokens only, fixed by max_tokens: every request costs exactly this. */
const COST = 30_000;
const NODES = 4;

const dirs: string[] = [];
const env = {
  ...process.env,
  DATABASE_URL: PG_URL,
  TOLLGATE_POSTGRES_SCHEMA: SCHEMA,
  REDIS_URL,
  TOLLGATE_REDIS_KEY_PREFIX: PREFIX,
  TOLLGATE_SECRET_KEY: randomBytes(32).toString('hex'),
  TOLLGATE_METERING_FLUSH_INTERVAL_MS: '10',
  TOLLGATE_CHANGE_POLL_MS: '50',
  TOLLGATE_LOG_LEVEL: 'warn',
  TOLLGATE_REQUEST_LOG: 'false',
  TOLLGATE_REDIS_RECONCILE_MS: '200',
  // Four nodes and 1,000 requests on a shared 2-core box: a script call can wait longer than
  // the default 200 ms, and a timeout is a 503 for priced requests (credits fail closed).
  // This test is about exact money, so a slow call must not count as Redis being down.
  TOLLGATE_REDIS_COMMAND_TIMEOUT_MS: '2000',
};
let store: Store;
let redis: Redis;
let nodes: ServeProcess[] = [];
let user: { id: number; key: string };
const agent = new Agent({ connections: 64 });

async function startNodes(): Promise<void> {
  nodes = await Promise.all(Array.from({ length: NODES }, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-ledger-'));
    dirs.push(dataDir);
    return startServe({ ...env, TOLLGATE_DATA_DIR: dataDir });
  }));
}

async function stopNodes(): Promise<void> {
  for (const n of nodes) n.child.kill('SIGTERM');
  const codes = await Promise.all(nodes.map((n) => n.exited));
  assert.deepEqual(codes, codes.map(() => 0), 'nodes drained and exited cleanly');
  nodes = [];
}

before(async () => {
  store = await openStore({ databaseUrl: PG_URL, dataDir: mkdtempSync(join(tmpdir(), 'tollgate-ledger-')), postgres: { poolSize: 2, schema: SCHEMA } });
  redis = new Redis(REDIS_URL);
  await store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 3_000 * 1_000_000, free: false });
  const u = await store.users.create({ name: 'payer' });
  const key = generateClientKey();
  await store.keys.insert({ userId: u.id, name: 'k', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  user = { id: u.id, key };
  await startNodes();
});

after(async () => {
  for (const n of nodes) n.child.kill('SIGKILL');
  await agent.close();
  await store.close();
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`drop schema if exists "${SCHEMA}" cascade`);
  await c.end();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function chat(base: string, model = 'mock-gpt'): Promise<number> {
  const r = await request(`${base}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: `Bearer ${user.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'pay' }], max_tokens: 10 }),
  });
  await r.body.text();
  return r.statusCode;
}

/** `count` concurrent requests spread over the nodes; status → how many. */
async function burst(count: number): Promise<Map<number, number>> {
  const codes = await Promise.all(Array.from({ length: count }, (_, i) => chat(nodes[i % nodes.length].base)));
  const byCode = new Map<number, number>();
  for (const c of codes) byCode.set(c, (byCode.get(c) ?? 0) + 1);
  return byCode;
}

/** Redis's balance and holds of the user. */
async function redisLedger(): Promise<{ bal: number; res: number }> {
  const [bal, res] = await redis.hmget(`${PREFIX}{rl}:b:${user.id}`, 'bal', 'res');
  return { bal: Number(bal), res: Number(res) };
}

/** Waits until every record is committed and its notice reached Redis; returns the settled figures. */
async function settled(records: number): Promise<{ stored: number; live: { bal: number; res: number }; recorded: number }> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const totals = await store.usage.totals({ userId: user.id });
    const stored = (await store.users.byId(user.id))!.balanceMicros;
    const live = await redisLedger();
    if ((totals.requests >= records && live.res === 0 && live.bal === stored) || Date.now() > deadline) {
      return { stored, live, recorded: totals.costMicros };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

let initial = 0;
let records = 0;

async function exactRun(k: number): Promise<void> {
  const byCode = await burst(1000);
  assert.equal(byCode.get(200), k, `admitted ${JSON.stringify([...byCode])}`);
  assert.equal(byCode.get(402), 1000 - k, `the rest are 402: ${JSON.stringify([...byCode])}`);
  records += 1000;
  const s = await settled(records);
  assert.equal(s.stored, initial - s.recorded, 'store balance = initial − Σ recorded costs');
  assert.equal(s.live.bal, s.stored, 'Redis balance = store balance');
  assert.equal(s.live.res, 0, 'no hold left');
  assert.ok(s.stored >= 0, 'never below −overdraft (0)');
}

test('4 nodes, 1,000 concurrent requests, a balance for exactly K: exactly K admitted, store = Redis = initial − Σ costs', async () => {
  const k = 37;
  await store.users.credit(user.id, k * COST);
  initial += k * COST;
  await exactRun(k);
});

test('after a restart of every node, an admin credit is applied once (4 nodes saw it) and the next run is exact again', async () => {
  await stopNodes();
  await startNodes();
  const k = 23;
  await store.users.credit(user.id, k * COST);
  initial += k * COST;
  // Every node polls the credit from the change feed and sends it; Redis applies it once.
  const deadline = Date.now() + 5_000;
  while ((await redisLedger()).bal !== k * COST && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // room for a second application, were there one
  assert.equal((await redisLedger()).bal, k * COST, 'credited once in Redis');
  await exactRun(k);
});

test('Redis keys deleted under the nodes: the balance is rebuilt from the store, still exact', async () => {
  const k = 11;
  await store.users.credit(user.id, k * COST);
  initial += k * COST;
  await new Promise((r) => setTimeout(r, 300)); // the credit reaches Redis, then Redis loses it all
  const keys = await redis.keys(`${PREFIX}{rl}:*:${user.id}`);
  assert.ok(keys.length > 0);
  await redis.del(...keys);
  await exactRun(k);
  await new Promise((r) => setTimeout(r, 400)); // a reconciliation pass after the flush
  const metrics = await (await fetch(`${nodes[0].base}/metrics`)).text();
  assert.match(metrics, /^tollgate_ledger_drift_micros 0$/m);
});
