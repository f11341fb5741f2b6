/**
 * The usage kinds (cached, cache-write and reasoning tokens) in the store, on
 * SQLite and PostgreSQL: kind prices round-trip (null: unset), the running
 * totals and the aggregates sum the kinds like the records do, and migration
 * 0009 backfills them into the totals of records written before it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { openStore, type Dialect, type Database, type Store, type StoreOptions, type UsageRecordInsert } from '../src/store/store.ts';
import { migrationProvider } from '../src/store/migrations.ts';
import { openSqlite } from '../src/store/sqlite.ts';
import { openPostgres } from '../src/store/postgres.ts';
import { usageRow } from '../src/store/usage-columns.ts';
import { masterKey, SecretBox } from '../src/secrets/secret-box.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DAY = 86_400_000;
const T0 = 1_700_006_400_000; // a UTC day's start

let seq = 0;
const uniq = (base: string) => `${base}-${++seq}`;

function record(userId: number, model: string, over: Partial<UsageRecordInsert>): UsageRecordInsert {
  return {
    requestId: uniq('req'), ts: T0, userId, keyId: 1, model, channelId: null, channelKeyId: null, status: 200, outcome: 'ok', attempts: 1,
    latencyMs: 10, ttftMs: null, promptTokens: 100, completionTokens: 50, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null,
    costMicros: 1, errorClass: null, ...over,
  };
}

const kinds = (t: { requests: number; promptTokens: number; completionTokens: number; cachedTokens: number; cacheWriteTokens: number; reasoningTokens: number; costMicros: number }) =>
  [t.requests, t.promptTokens, t.completionTokens, t.cachedTokens, t.cacheWriteTokens, t.reasoningTokens, t.costMicros];

interface Target {
  dialect: Dialect;
  options: () => StoreOptions;
  /** A Kysely on the same database, without migrations run. */
  raw: (opts: StoreOptions) => Promise<Kysely<Database>>;
  drop: (store: Store, opts: StoreOptions) => Promise<void>;
}

const targets: Target[] = [
  {
    dialect: 'sqlite',
    options: () => ({ dataDir: mkdtempSync(join(tmpdir(), 'tollgate-kinds-')) }),
    raw: async (opts) => openSqlite(opts.dataDir).db,
    drop: async (_store, opts) => rmSync(opts.dataDir, { recursive: true, force: true }),
  },
  {
    dialect: 'postgres',
    options: () => ({
      databaseUrl: PG_URL, dataDir: '/nonexistent', postgres: { schema: `tg_kinds_${process.pid}_${++seq}_${Date.now()}`, poolSize: 2 },
      secrets: new SecretBox({ current: masterKey(Buffer.alloc(32, 7)), previous: [] }),
    }),
    raw: async (opts) => (await openPostgres(opts.databaseUrl!, opts.postgres)).db,
    drop: async (store, opts) => {
      await sql`drop schema ${sql.id(opts.postgres!.schema!)} cascade`.execute(store.db);
    },
  },
];

for (const target of targets) {
  describe(`usage kinds in the store: ${target.dialect}`, () => {
    let store: Store;
    let opts: StoreOptions;
    before(async () => {
      opts = target.options();
      store = await openStore(opts);
    });
    after(async () => {
      await target.drop(store, opts);
      await store.close();
    });

    test('prices: the kind prices round-trip; absent or null leaves them unset', async () => {
      const model = uniq('m');
      const set = await store.prices.set({ model, inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, cachedInputMicrosPerMTok: 300_000, cacheWriteMicrosPerMTok: 3_750_000, reasoningMicrosPerMTok: 0, free: false });
      assert.deepEqual([set.cachedInputMicrosPerMTok, set.cacheWriteMicrosPerMTok, set.reasoningMicrosPerMTok], [300_000, 3_750_000, 0]);
      const listed = (await store.prices.list()).find((p) => p.model === model)!;
      assert.deepEqual([listed.cachedInputMicrosPerMTok, listed.cacheWriteMicrosPerMTok, listed.reasoningMicrosPerMTok], [300_000, 3_750_000, 0]);
      const replaced = await store.prices.set({ model, inputMicrosPerMTok: 1, outputMicrosPerMTok: 2, cachedInputMicrosPerMTok: null, free: false });
      assert.deepEqual([replaced.cachedInputMicrosPerMTok, replaced.cacheWriteMicrosPerMTok, replaced.reasoningMicrosPerMTok], [null, null, null]);
    });

    test('the running totals and the aggregates sum the kinds, replays counted once', async () => {
      const user = 900_000 + seq;
      const model = uniq('m');
      const batch = [
        record(user, model, { cachedTokens: 60, cacheWriteTokens: 10, reasoningTokens: 20, costMicros: 5 }),
        record(user, model, { ts: T0 + 1000, cachedTokens: 30, reasoningTokens: 7, costMicros: 4 }),
        record(user, model, { ts: T0 + DAY, cacheWriteTokens: 40, costMicros: 3 }),
      ];
      await store.usage.applyBatch(batch);
      await store.usage.applyBatch(batch);
      const expected = [3, 300, 150, 90, 50, 27, 12];
      // All time is read from usage_totals, a time range from usage_records.
      assert.deepEqual(kinds(await store.usage.totals({ userId: user })), expected);
      assert.deepEqual(kinds(await store.usage.totals({ userId: user, from: 0, to: Number.MAX_SAFE_INTEGER })), expected);
      const days = await store.usage.aggregate({ groupBy: 'day', userId: user });
      assert.deepEqual(days.map((b) => [b.key, ...kinds(b)]), [[T0, 2, 200, 100, 90, 10, 27, 9], [T0 + DAY, 1, 100, 50, 0, 40, 0, 3]]);
    });
  });

  test(`${target.dialect}: migration 0009 backfills the kinds into the totals of earlier records`, async () => {
    const o = target.options();
    const db = await target.raw(o);
    const migrator = new Migrator({ db, provider: migrationProvider(target.dialect), migrationTableSchema: o.postgres?.schema });
    const { error } = await migrator.migrateTo('0008_key_governance');
    assert.equal(error, undefined);
    // As the code before 0009 wrote them: the records with their kinds, the totals without.
    const recs = [
      record(1, 'a', { cachedTokens: 60, cacheWriteTokens: 10, reasoningTokens: 20 }),
      record(1, 'a', { ts: T0 + 5, cachedTokens: 30 }),
      record(1, 'a', { ts: T0 + DAY, reasoningTokens: 9 }),
      record(2, 'a', { cacheWriteTokens: 8 }),
    ];
    // Without the columns later migrations added (response_id, 0013).
    await db.insertInto('usage_records').values(recs.map((r) => {
      const { response_id: _, ...row } = usageRow(r);
      return row;
    })).execute();
    await sql`insert into usage_totals (user_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros)
      select user_id, model, ts - ts % 86400000, count(*), sum(prompt_tokens), sum(completion_tokens), sum(cost_micros)
      from usage_records group by user_id, model, ts - ts % 86400000`.execute(db);
    await db.destroy();

    const store = await openStore(o);
    try {
      assert.deepEqual(kinds(await store.usage.totals({ userId: 1 })), [3, 300, 150, 90, 10, 29, 3]);
      assert.deepEqual(kinds(await store.usage.totals({ userId: 2 })), [1, 100, 50, 0, 8, 0, 1]);
      const rows = await store.db.selectFrom('usage_totals').select(['user_id', 'day', 'cached_tokens', 'cache_write_tokens', 'reasoning_tokens']).orderBy('user_id').orderBy('day').execute();
      assert.deepEqual(rows.map((r) => [r.user_id, r.day, r.cached_tokens, r.cache_write_tokens, r.reasoning_tokens]), [[1, T0, 90, 10, 20], [1, T0 + DAY, 0, 0, 9], [2, T0, 0, 8, 0]]);
    } finally {
      await target.drop(store, o);
      await store.close();
    }
  });
}
