/**
 * UsageWriter against real stores: the same suite on SQLite (temp dir) and
 * PostgreSQL (a schema unique to this run, dropped at the end). Faults come
 * from our own store wrapped so that applyBatch fails for a while, and on
 * PostgreSQL also from terminating the writer's server connections.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { UsageWriter, type UsageSink, type UsageWriterOptions } from '../src/metering/usage-writer.ts';
import { serializeRecords } from '../src/metering/usage-spool.ts';
import { openStore, StoreInputError, type Store, type UsageRecordInsert } from '../src/store/store.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const APP_NAME = `tg_meter_${process.pid}`;

let seq = 0;

function makeRecords(prefix: string, userId: number, n: number): UsageRecordInsert[] {
  const out: UsageRecordInsert[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      requestId: `${prefix}-${i}`,
      ts: 1_700_000_000_000 + i,
      userId,
      keyId: 1,
      model: 'gpt-test',
      channelId: 3,
      channelKeyId: null,
      status: 200,
      outcome: 'ok',
      attempts: 1,
      latencyMs: 12,
      ttftMs: null,
      promptTokens: 10 + (i % 7),
      completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null,
      costMicros: 100 + (i % 13),
      errorClass: null,
    });
  }
  return out;
}

const sumCost = (rs: readonly UsageRecordInsert[]) => rs.reduce((s, r) => s + r.costMicros, 0);

/** Our own store's usage repo with a fault switch and a call counter. */
class FaultySink implements UsageSink {
  readonly #store: Store;
  calls = 0;
  down = false;
  /** Commit, then throw: the client never learns that the batch was stored. */
  lostAcks = 0;
  poison: string | null = null;

  constructor(store: Store) {
    this.#store = store;
  }

  async applyBatch(records: readonly UsageRecordInsert[]) {
    this.calls++;
    if (this.down) throw new Error('store unavailable (injected)');
    if (this.poison !== null && records.some((r) => r.requestId === this.poison)) {
      throw new StoreInputError('invalid', `record ${this.poison} is refused (injected)`);
    }
    const res = await this.#store.usage.applyBatch(records);
    if (this.lostAcks > 0) {
      this.lostAcks--;
      throw new Error('connection reset after commit (injected)');
    }
    return res;
  }
}

interface Ctx {
  store: Store;
  dataDir: string;
  dialect: string;
  teardown: () => Promise<void>;
}

function writerSuite(name: string, setup: () => Promise<Ctx>): void {
  describe(`usage writer: ${name}`, () => {
    let ctx: Ctx;
    let n = 0;
    const writers: UsageWriter[] = [];

    before(async () => {
      ctx = await setup();
    });
    after(async () => {
      for (const w of writers) await w.close(1_000);
      await ctx.teardown();
    });

    const newUser = async (balance: number) => {
      const u = await ctx.store.users.create({ name: `writer-${name}-${++n}-${process.pid}` });
      await ctx.store.users.credit(u.id, balance);
      return u.id;
    };
    const newDataDir = () => mkdtempSync(join(ctx.dataDir, 'w-'));
    const open = (sink: UsageSink, dataDir: string, opts: Partial<UsageWriterOptions> = {}) => {
      const w = new UsageWriter(sink, { dataDir, backoffBaseMs: 5, backoffMaxMs: 40, ...opts });
      writers.push(w);
      return w;
    };
    const rowsWith = async (prefix: string) => {
      const r = await ctx.store.db
        .selectFrom('usage_records')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.count<number>('request_id').distinct().as('d')])
        .where('request_id', 'like', `${prefix}-%`)
        .executeTakeFirstOrThrow();
      return { rows: Number(r.n), distinct: Number(r.d) };
    };
    const balance = async (userId: number) => (await ctx.store.users.byId(userId))!.balanceMicros;
    const spoolFiles = (dataDir: string, pattern = /^usage-/) => readdirSync(join(dataDir, 'spool')).filter((f) => pattern.test(f));

    test('N records → exactly N rows, balance debited by Σcost, ≤ ceil(N/batch)+2 transactions', async () => {
      const user = await newUser(10_000_000);
      const sink = new FaultySink(ctx.store);
      const w = open(sink, newDataDir(), { batchSize: 100, flushIntervalMs: 60_000 });
      const prefix = `bulk-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 2_050);
      for (const r of recs) w.enqueue(r);
      await w.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 2_050, distinct: 2_050 });
      assert.equal(await balance(user), 10_000_000 - sumCost(recs));
      assert.ok(sink.calls <= Math.ceil(2_050 / 100) + 2, `${sink.calls} applyBatch calls`);
      const s = w.stats();
      assert.equal(s.flushedRecords, 2_050);
      assert.equal(s.queued + s.spilling + s.inFlight + s.spooledRecords, 0);
    });

    test('records arriving over many ticks are batched, not written one by one', async () => {
      const user = await newUser(10_000_000);
      const sink = new FaultySink(ctx.store);
      const w = open(sink, newDataDir(), { batchSize: 64, flushIntervalMs: 60_000 });
      const prefix = `ticks-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 1_000);
      for (let i = 0; i < recs.length; i += 10) {
        for (const r of recs.slice(i, i + 10)) w.enqueue(r);
        await new Promise((r) => setImmediate(r));
      }
      await w.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 1_000, distinct: 1_000 });
      assert.equal(await balance(user), 10_000_000 - sumCost(recs));
      assert.ok(sink.calls <= Math.ceil(1_000 / 64) + 2, `${sink.calls} applyBatch calls`);
    });

    test('store down: records go to the spool, memory stays bounded, all arrive once after recovery', async () => {
      const user = await newUser(10_000_000);
      const sink = new FaultySink(ctx.store);
      const dataDir = newDataDir();
      const w = open(sink, dataDir, { batchSize: 50, flushIntervalMs: 5, maxQueue: 200, spillAfterFailures: 2 });
      const prefix = `down-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 1_500);
      sink.down = true;
      let maxQueued = 0;
      for (let i = 0; i < recs.length; i += 25) {
        for (const r of recs.slice(i, i + 25)) w.enqueue(r);
        maxQueued = Math.max(maxQueued, w.stats().queued);
        await new Promise((r) => setTimeout(r, 1));
      }
      // Wait until the failures made the writer spill what it held.
      for (let waited = 0; w.stats().spooledRecords < recs.length - 200; waited += 5) {
        assert.ok(waited < 10_000, `spill did not happen: ${JSON.stringify(w.stats())}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      const s = w.stats();
      assert.ok(s.failures >= 2, `failures ${s.failures}`);
      assert.ok(s.spooledRecords > 0 && spoolFiles(dataDir).length > 0, 'spool files written');
      assert.ok(maxQueued <= 200 + 50, `queue peaked at ${maxQueued} (maxQueue 200 + one batch of 50)`);
      assert.equal((await rowsWith(prefix)).rows, 0);
      await assert.rejects(w.flush(100), /did not take every record/);
      assert.equal(w.stats().queued + w.stats().spilling, 0, 'a failed flush leaves everything in the spool');

      sink.down = false;
      sink.lostAcks = 2; // two batches commit but report failure: replays must not double-bill
      await w.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 1_500, distinct: 1_500 });
      assert.equal(await balance(user), 10_000_000 - sumCost(recs));
      assert.deepEqual(spoolFiles(dataDir), [], 'drained spool files are deleted');
      assert.equal(w.stats().spooledRecords, 0);
    });

    test('a leftover spool file from an earlier run is drained on start; a torn last line is set aside', async () => {
      const user = await newUser(1_000_000);
      const dataDir = newDataDir();
      const prefix = `left-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 300);
      mkdirSync(join(dataDir, 'spool'), { recursive: true });
      const file = join(dataDir, 'spool', `usage-${String(Date.now() - 60_000).padStart(15, '0')}-000001-1.jsonl`);
      // 120 of them were already committed before the crash: replay must skip them.
      await ctx.store.usage.applyBatch(recs.slice(0, 120));
      writeFileSync(file, serializeRecords(recs) + '{"requestId":"torn-by-cra');
      const sink = new FaultySink(ctx.store);
      const w = open(sink, dataDir, { batchSize: 64 });
      assert.equal(w.stats().spooledRecords, 301);
      await w.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 300, distinct: 300 });
      assert.equal(await balance(user), 1_000_000 - sumCost(recs));
      assert.equal(existsSync(file), false);
      assert.equal(w.stats().rejected, 1);
      const rejected = spoolFiles(dataDir, /^rejected-/);
      assert.equal(rejected.length, 1);
      assert.match(readFileSync(join(dataDir, 'spool', rejected[0]), 'utf8'), /torn-by-cra/);
    });

    test('close() flushes; a record enqueued after close is spooled and drained by the next writer', async () => {
      const user = await newUser(1_000_000);
      const dataDir = newDataDir();
      const prefix = `close-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 101);
      const w = new UsageWriter(ctx.store.usage, { dataDir, batchSize: 1_000, flushIntervalMs: 60_000 });
      for (const r of recs.slice(0, 100)) w.enqueue(r);
      await w.close();
      assert.equal((await rowsWith(prefix)).rows, 100);
      w.enqueue(recs[100]);
      assert.equal(spoolFiles(dataDir).length, 1);
      const next = open(ctx.store.usage, dataDir);
      await next.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 101, distinct: 101 });
      assert.equal(await balance(user), 1_000_000 - sumCost(recs));
    });

    test('close() with the store down spools everything, including the batch in flight', async () => {
      const user = await newUser(1_000_000);
      const dataDir = newDataDir();
      const prefix = `closedown-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 500);
      let release!: () => void;
      const hang: UsageSink = {
        applyBatch: () => new Promise((_, reject) => (release = () => reject(new Error('never answered')))),
      };
      const w = new UsageWriter(hang, { dataDir, batchSize: 100, flushIntervalMs: 60_000 });
      for (const r of recs) w.enqueue(r);
      await new Promise((r) => setImmediate(r)); // the first batch is now stuck in flight
      assert.equal(w.stats().inFlight, 100);
      await w.close(50);
      assert.equal(w.stats().queued, 0);
      assert.equal(w.stats().spooledRecords, 500);
      release();
      const next = open(ctx.store.usage, dataDir);
      await next.flush();
      assert.deepEqual(await rowsWith(prefix), { rows: 500, distinct: 500 });
      assert.equal(await balance(user), 1_000_000 - sumCost(recs));
    });

    test('a record the store refuses is isolated and set aside; the rest of its batch commits', async () => {
      const user = await newUser(1_000_000);
      const dataDir = newDataDir();
      const sink = new FaultySink(ctx.store);
      const prefix = `poison-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 40);
      sink.poison = recs[17].requestId;
      const refusedBack: number[] = [];
      const w = open(sink, dataDir, { batchSize: 16, flushIntervalMs: 60_000, onRefused: (rs) => refusedBack.push(...rs.map((r) => r.costMicros)) });
      for (const r of recs) w.enqueue(r);
      await w.flush();
      assert.deepEqual(refusedBack, [recs[17].costMicros], 'the refused record is handed back so its debit can be returned');
      assert.equal((await rowsWith(prefix)).rows, 39);
      assert.equal(await balance(user), 1_000_000 - sumCost(recs) + recs[17].costMicros);
      assert.equal(w.stats().rejected, 1);
      assert.match(readFileSync(join(dataDir, 'spool', spoolFiles(dataDir, /^rejected-/)[0]), 'utf8'), new RegExp(recs[17].requestId));
    });

    test('fractional numbers from the hot path are repaired, not refused', async () => {
      const user = await newUser(1_000_000);
      const prefix = `frac-${++seq}-${process.pid}`;
      const [r] = makeRecords(prefix, user, 1);
      r.costMicros = 10.2;
      r.latencyMs = 3.7;
      r.ttftMs = 1.1;
      const w = open(ctx.store.usage, newDataDir());
      w.enqueue(r);
      await w.flush();
      assert.equal(await balance(user), 1_000_000 - 11);
      assert.equal(w.stats().rejected, 0);
    });

    test('records repaired on their way to the spool: NaN and fractions survive a spill and a drain', async () => {
      const user = await newUser(1_000_000);
      const dataDir = newDataDir();
      const prefix = `spillfix-${++seq}-${process.pid}`;
      const recs = makeRecords(prefix, user, 3);
      recs[0].costMicros = Number.NaN; // JSON would write null, which no spool line may hold
      recs[1].costMicros = 7.5;
      recs[2].promptTokens = -3;
      const sink = new FaultySink(ctx.store);
      sink.down = true;
      // maxQueue 2: the third record spills the queue before any batch took it
      const w = new UsageWriter(sink, { dataDir, batchSize: 100, maxQueue: 2, flushIntervalMs: 60_000, backoffBaseMs: 5, backoffMaxMs: 10 });
      for (const r of recs) w.enqueue(r);
      await w.close(30);
      assert.equal(w.stats().spooledRecords, 3);
      const next = open(ctx.store.usage, dataDir);
      await next.flush();
      assert.equal(next.stats().rejected, 0);
      assert.equal(await balance(user), 1_000_000 - 0 - 8 - recs[2].costMicros);
      assert.deepEqual(spoolFiles(dataDir, /^rejected-/), []);
    });

    if (name === 'postgres') {
      test('server-side connection kills during flushes: every record arrives exactly once', async (t) => {
        const user = await newUser(100_000_000);
        const killer = new pg.Client({ connectionString: PG_URL });
        await killer.connect();
        try {
          const w = open(ctx.store.usage, newDataDir(), { batchSize: 40, flushIntervalMs: 2 });
          const prefix = `kill-${++seq}-${process.pid}`;
          const recs = makeRecords(prefix, user, 2_000);
          let killed = 0;
          for (let i = 0; i < recs.length; i += 20) {
            for (const r of recs.slice(i, i + 20)) w.enqueue(r);
            if (i % 200 === 0) {
              const res = await killer.query(
                `select pg_terminate_backend(pid) as ok from pg_stat_activity
                 where datname = 'test' and pid <> pg_backend_pid() and application_name = $1`,
                [APP_NAME],
              );
              killed += res.rowCount ?? 0;
            }
            await new Promise((r) => setTimeout(r, 1));
          }
          await w.flush(30_000);
          assert.ok(killed > 0, 'some writer connections were terminated');
          t.diagnostic(`terminated ${killed} backend(s); writer saw ${w.stats().failures} failed flush(es) and retried`);
          assert.deepEqual(await rowsWith(prefix), { rows: 2_000, distinct: 2_000 });
          assert.equal(await balance(user), 100_000_000 - sumCost(recs));
        } finally {
          await killer.end();
        }
      });
    }
  });
}

writerSuite('sqlite', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tg-writer-'));
  const store = await openStore({ dataDir });
  return {
    store,
    dataDir,
    dialect: 'sqlite',
    teardown: async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});

writerSuite('postgres', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tg-writer-pg-'));
  const schema = `tg_meter_${process.pid}_${Date.now()}`;
  const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}application_name=${APP_NAME}`;
  const store = await openStore({ databaseUrl: url, dataDir, postgres: { schema, poolSize: 4 } });
  return {
    store,
    dataDir,
    dialect: 'postgres',
    teardown: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
