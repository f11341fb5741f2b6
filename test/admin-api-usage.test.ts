/**
 * Admin API, usage: records filtered by user/key/model/channel/status/time
 * with cursor pagination, aggregates per day/hour/model/user, bad input; and
 * `UsageRepo.aggregate` giving the same answer on SQLite and PostgreSQL.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openStore, type Store, type UsageRecordInsert } from '../src/store/store.ts';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';
import { admin, assertError, chat } from './admin-api-support.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('admin usage API', () => {
  let fx: Fixture;
  let bob: { userId: number; keyId: number; key: string };

  before(async () => {
    fx = await startFixture();
    bob = await fx.newUser('bob');
    for (let i = 0; i < 3; i++) assert.equal(await chat(fx, fx.key, 'mock-gpt'), 200);
    for (let i = 0; i < 2; i++) assert.equal(await chat(fx, bob.key, 'mock-gpt-large'), 200);
    await fx.tg.accounting!.writer.flush();
  });
  after(async () => {
    await fx.close();
  });

  test('records: newest first, filters', async () => {
    const all = (await admin(fx, 'GET', '/admin/usage')).body;
    assert.equal(all.object, 'list');
    assert.equal(all.data.length, 5);
    assert.equal(all.has_more, false);
    assert.equal(all.next_cursor, null);
    const r = all.data[0];
    assert.equal(r.object, 'usage_record');
    for (const f of ['request_id', 'ts', 'user_id', 'key_id', 'model', 'channel_id', 'status', 'prompt_tokens', 'completion_tokens', 'cost_micros', 'latency_ms']) assert.ok(f in r, f);
    const ts = all.data.map((x: any) => x.ts);
    assert.deepEqual(ts, [...ts].sort((x, y) => y - x));

    const q = async (query: string) => (await admin(fx, 'GET', `/admin/usage?${query}`)).body.data as any[];
    assert.equal((await q(`user_id=${bob.userId}`)).length, 2);
    assert.equal((await q(`key_id=${fx.keyId}`)).length, 3);
    assert.equal((await q('model=mock-gpt-large')).length, 2);
    assert.equal((await q('status=200')).length, 5);
    assert.equal((await q('status=500')).length, 0);
    assert.equal((await q('channel_id=0')).length, 5, 'the built-in mock channel is id 0');
    const newest = all.data[0].ts;
    assert.equal((await q(`from=${newest + 1}`)).length, 0);
    assert.equal((await q(`to=${new Date(newest + 1).toISOString()}`)).length, 5);
    assert.equal((await q(`user_id=${bob.userId}&model=mock-gpt`)).length, 0);
  });

  test('records: cursor pagination walks every record once', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: any = (await admin(fx, 'GET', `/admin/usage?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`)).body;
      assert.ok(r.data.length <= 2);
      seen.push(...r.data.map((x: any) => x.id));
      assert.equal(r.has_more, r.next_cursor !== null);
      cursor = r.next_cursor;
      pages++;
    } while (cursor !== null);
    assert.equal(pages, 3);
    assert.equal(new Set(seen).size, 5);
  });

  test('stats: per model, per user, per day and hour, with totals', async () => {
    const byModel = (await admin(fx, 'GET', '/admin/usage/stats?group_by=model')).body;
    assert.equal(byModel.group_by, 'model');
    assert.deepEqual(Object.fromEntries(byModel.data.map((b: any) => [b.key, b.requests])), { 'mock-gpt': 3, 'mock-gpt-large': 2 });
    assert.equal(byModel.totals.requests, 5);
    const byUser = (await admin(fx, 'GET', '/admin/usage/stats?group_by=user')).body.data;
    assert.deepEqual(Object.fromEntries(byUser.map((b: any) => [b.key, b.requests])), { [fx.userId]: 3, [bob.userId]: 2 });
    for (const [group, ms] of [['day', 86_400_000], ['hour', 3_600_000]] as const) {
      const r = (await admin(fx, 'GET', `/admin/usage/stats?group_by=${group}`)).body;
      assert.equal(r.data.reduce((n: number, b: any) => n + b.requests, 0), 5);
      for (const b of r.data) assert.equal(b.key % ms, 0, `${group} buckets start on the ${group}`);
    }
    const defaulted = (await admin(fx, 'GET', `/admin/usage/stats?user_id=${bob.userId}`)).body;
    assert.equal(defaulted.group_by, 'day');
    assert.equal(defaulted.totals.requests, 2);
    const tokens = byModel.data.reduce((n: number, b: any) => n + b.prompt_tokens + b.completion_tokens, 0);
    assert.equal(tokens, byModel.totals.prompt_tokens + byModel.totals.completion_tokens);
  });

  test('bad input: 400 naming the parameter', async () => {
    assertError(await admin(fx, 'GET', '/admin/usage?limit=0'), 400, 'limit');
    assertError(await admin(fx, 'GET', '/admin/usage?limit=1001'), 400, 'limit');
    assertError(await admin(fx, 'GET', '/admin/usage?user_id=bob'), 400, 'user_id');
    assertError(await admin(fx, 'GET', '/admin/usage?status=abc'), 400, 'status');
    assertError(await admin(fx, 'GET', '/admin/usage?from=yesterday'), 400, 'from');
    assertError(await admin(fx, 'GET', '/admin/usage?to=2024-13-45'), 400, 'to');
    assertError(await admin(fx, 'GET', '/admin/usage?from=2000&to=1000'), 400, 'from');
    assertError(await admin(fx, 'GET', '/admin/usage?cursor=%21%21'), 400, 'cursor');
    assertError(await admin(fx, 'GET', '/admin/usage?cursor=bm9wZQ'), 400, 'cursor');
    assertError(await admin(fx, 'GET', '/admin/usage?page=2'), 400, 'page');
    assertError(await admin(fx, 'GET', '/admin/usage/stats?group_by=week'), 400, 'group_by');
  });
});

function rec(over: Partial<UsageRecordInsert> & { requestId: string; ts: number }): UsageRecordInsert {
  return {
    userId: 1, keyId: 1, model: 'm1', channelId: null, channelKeyId: null, status: 200, outcome: 'ok', attempts: 1,
    latencyMs: 10, ttftMs: null, promptTokens: 10, completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null, costMicros: 5, errorClass: null, ...over,
  };
}

/** The same records on each dialect; the aggregates must match exactly. */
async function aggregates(store: Store) {
  const u1 = await store.users.create({ name: 'agg-1' });
  const u2 = await store.users.create({ name: 'agg-2' });
  const day = Date.UTC(2025, 0, 10);
  await store.usage.applyBatch([
    rec({ requestId: 'a1', ts: day + 1_000, userId: u1.id, latencyMs: 10 }),
    rec({ requestId: 'a2', ts: day + 3_600_000 + 5, userId: u1.id, model: 'm2', costMicros: 100, latencyMs: 30 }),
    rec({ requestId: 'a3', ts: day + 86_400_000 + 7, userId: u2.id, status: 502, outcome: 'upstream_error', costMicros: 0 }),
    rec({ requestId: 'a4', ts: day + 86_400_000 + 8, userId: u2.id, model: 'm2', costMicros: 100 }),
  ]);
  const pick = (q: Parameters<Store['usage']['aggregate']>[0]) => store.usage.aggregate(q);
  return {
    ids: [u1.id, u2.id],
    day,
    byDay: await pick({ groupBy: 'day' }),
    byHour: await pick({ groupBy: 'hour', from: day, to: day + 86_400_000 }),
    byModel: await pick({ groupBy: 'model' }),
    byUser: await pick({ groupBy: 'user', model: 'm2' }),
    empty: await pick({ groupBy: 'model', userId: 987_654 }),
  };
}

test('UsageRepo.aggregate: same buckets on SQLite and PostgreSQL', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-agg-'));
  const schema = `tg_agg_${process.pid}_${Date.now()}`;
  const lite = await openStore({ dataDir: dir });
  const pg = await openStore({ databaseUrl: PG_URL, dataDir: '/nonexistent', postgres: { schema, poolSize: 2 } });
  try {
    const a = await aggregates(lite);
    const b = await aggregates(pg);
    assert.deepEqual(b, a, 'both dialects agree');
    const { day, ids } = a;
    assert.deepEqual(a.byDay.map((x) => [x.key, x.requests, x.errors, x.costMicros]), [[day, 2, 0, 105], [day + 86_400_000, 2, 1, 100]]);
    assert.deepEqual(a.byHour.map((x) => [x.key, x.requests, x.avgLatencyMs]), [[day, 1, 10], [day + 3_600_000, 1, 30]]);
    assert.deepEqual(a.byModel.map((x) => [x.key, x.requests, x.promptTokens, x.completionTokens, x.costMicros]), [['m2', 2, 20, 40, 200], ['m1', 2, 20, 40, 5]]);
    assert.deepEqual(a.byUser.map((x) => [x.key, x.requests]), [[ids[0], 1], [ids[1], 1]]);
    assert.deepEqual(a.empty, []);
  } finally {
    await lite.close();
    rmSync(dir, { recursive: true, force: true });
    await sql`drop schema ${sql.id(schema)} cascade`.execute(pg.db);
    await pg.close();
  }
});
