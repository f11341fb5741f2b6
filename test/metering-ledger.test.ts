/**
 * CreditLedger exactness against a real SQLite store.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreditLedger, type LedgerStore } from '../src/metering/ledger.ts';
import { openStore, type Store } from '../src/store/store.ts';

describe('CreditLedger', () => {
  let dir: string;
  let store: Store;
  let n = 0;
  const newUser = async (balance: number) => {
    const u = await store.users.create({ name: `ledger-user-${++n}` });
    if (balance !== 0) await store.users.credit(u.id, balance);
    return u.id;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-ledger-'));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('500 concurrent reserve attempts with a balance for exactly K: exactly K succeed', async () => {
    const K = 37;
    const cost = 12_345;
    const user = await newUser(K * cost);
    const ledger = new CreditLedger(store);
    // Every "request" awaits the load (one shared read) and then reserves.
    const results = await Promise.all(
      Array.from({ length: 500 }, async () => {
        await ledger.ensureLoaded(user);
        await new Promise((r) => setImmediate(r)); // interleave like real requests
        return ledger.reserve(user, cost);
      }),
    );
    const held = results.filter((r) => r !== null);
    assert.equal(held.length, K);
    assert.deepEqual(ledger.snapshot(user), { balanceMicros: K * cost, reservedMicros: K * cost });
    for (const r of held) ledger.settle(r!, cost);
    assert.deepEqual(ledger.snapshot(user), { balanceMicros: 0, reservedMicros: 0 });
    assert.equal(ledger.reserve(user, 1), null);
    assert.notEqual(ledger.reserve(user, 0), null, 'a free request needs no credit');
  });

  test('a cost whose record the store refused goes back on the live balance and off the pending debits', async () => {
    const user = await newUser(1_000_000);
    const ledger = new CreditLedger(store);
    await ledger.ensureLoaded(user);
    ledger.settle(ledger.reserve(user, 300_000)!, 300_000);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 700_000);
    ledger.refused(user, 300_000);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_000_000);
    await ledger.refresh();
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_000_000, 'a refresh from the store (which never had the debit) agrees');
  });

  test('settle charges the real cost and releases the rest; settle is idempotent', async () => {
    const user = await newUser(1_000_000);
    const ledger = new CreditLedger(store);
    await ledger.ensureLoaded(user);
    const a = ledger.reserve(user, 600_000)!;
    assert.equal(ledger.reserve(user, 400_001), null, 'only 400 000 left after the hold');
    const b = ledger.reserve(user, 400_000)!;
    assert.equal(ledger.settle(a, 150_000), 0);
    assert.equal(ledger.settle(a, 150_000), 0, 'second settle is a no-op');
    assert.deepEqual(ledger.snapshot(user), { balanceMicros: 850_000, reservedMicros: 400_000 });
    ledger.release(b);
    ledger.settle(b, 999); // after release: no-op
    assert.deepEqual(ledger.snapshot(user), { balanceMicros: 850_000, reservedMicros: 0 });
    // A cost above the reservation is charged in full and reported.
    const c = ledger.reserve(user, 100)!;
    assert.equal(ledger.settle(c, 250), 150);
    assert.deepEqual(ledger.snapshot(user), { balanceMicros: 849_750, reservedMicros: 0 });
    // Garbage costs charge nothing and fractions round up.
    const d = ledger.reserve(user, 10)!;
    ledger.settle(d, Number.NaN);
    const e = ledger.reserve(user, 10)!;
    ledger.settle(e, 2.2);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 849_747);
  });

  test('overdraft: concurrent holds never go below −overdraft', async () => {
    const user = await newUser(1_000);
    const ledger = new CreditLedger(store, { overdraftMicros: 500 });
    await ledger.ensureLoaded(user);
    const got = [];
    for (let i = 0; i < 100; i++) got.push(ledger.reserve(user, 100));
    assert.equal(got.filter((r) => r !== null).length, 15);
    for (const r of got) if (r) ledger.settle(r, 100);
    assert.equal(ledger.snapshot(user)!.balanceMicros, -500);
    assert.throws(() => new CreditLedger(store, { overdraftMicros: -1 }), RangeError);
  });

  test('reserve before load is a caller bug; an unknown user loads with balance 0', async () => {
    const ledger = new CreditLedger(store);
    assert.throws(() => ledger.reserve(999_999, 1), /ensureLoaded/);
    assert.equal(ledger.isLoaded(999_999), false);
    await ledger.ensureLoaded(999_999);
    assert.equal(ledger.isLoaded(999_999), true);
    assert.equal(ledger.reserve(999_999, 1), null);
  });

  test('external deltas apply once, by change-feed id; events the load already read are skipped', async () => {
    const user = await newUser(1_000);
    // Credited before the load, polled after it: the load already includes it.
    await store.users.credit(user, 500);
    const [early] = (await store.events.since(0, 100_000)).filter((e) => e.kind === 'user.balance' && e.subject === String(user)).slice(-1);
    const ledger = new CreditLedger(store);
    await ledger.ensureLoaded(user);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_500);
    ledger.applyExternalDelta(user, early.delta, early.id);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_500);

    const mark = await store.events.latestId();
    await store.users.credit(user, 2_000);
    const [later] = await store.events.since(mark);
    ledger.applyExternalDelta(user, later.delta, later.id);
    ledger.applyExternalDelta(user, later.delta, later.id); // a replayed poll
    assert.equal(ledger.snapshot(user)!.balanceMicros, 3_500);
    // A user not loaded ignores deltas: its load reads the store.
    ledger.applyExternalDelta(424242, 5, later.id + 1);
    assert.equal(ledger.isLoaded(424242), false);
  });

  test('a credit that lands while the balance is being read is counted exactly once', async () => {
    const user = await newUser(1_000);
    let reads = 0;
    let creditEvent: { id: number; delta: number } | undefined;
    const racing: LedgerStore = {
      events: store.events,
      users: {
        balances: async (ids) => {
          const out = await store.users.balances(ids);
          if (++reads === 1) {
            // Commits after the read: the feed moved past `before`, so the ledger must read again.
            await store.users.credit(user, 700);
            const evs = await store.events.since((await store.events.latestId()) - 1);
            creditEvent = evs[0];
          }
          return out;
        },
      },
    };
    const ledger = new CreditLedger(racing);
    const loading = ledger.ensureLoaded(user);
    await loading;
    assert.equal(reads, 2);
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_700);
    ledger.applyExternalDelta(user, creditEvent!.delta, creditEvent!.id); // the poller sees it later
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_700);
  });

  test('a delta polled while the load is in flight is applied after it when the read predates it', async () => {
    const user = await newUser(1_000);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: LedgerStore = {
      events: store.events,
      users: {
        balances: async (ids) => {
          const out = await store.users.balances(ids);
          await gate;
          return out;
        },
      },
    };
    const ledger = new CreditLedger(slow);
    const loading = ledger.ensureLoaded(user);
    // Feed id far in the future: certainly newer than anything the read saw.
    ledger.applyExternalDelta(user, 300, Number.MAX_SAFE_INTEGER);
    release();
    await loading;
    assert.equal(ledger.snapshot(user)!.balanceMicros, 1_300);
  });
});

describe('CreditLedger.refresh (several gateways on one store)', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-ledger-refresh-'));
    store = await openStore({ dataDir: dir });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const record = (userId: number, requestId: string, costMicros: number) => ({
    requestId, ts: Date.now(), userId, keyId: 1, model: 'm', channelId: null, channelKeyId: null, status: 200, outcome: 'ok' as const,
    attempts: 1, latencyMs: 1, ttftMs: null, promptTokens: 1, completionTokens: 1, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null, costMicros, errorClass: null,
  });

  test('live = stored − own uncommitted costs; other nodes spending and credits are picked up once', async () => {
    const u = await store.users.create({ name: 'refresh-user' });
    await store.users.credit(u.id, 1000);
    const ledger = new CreditLedger(store);
    await ledger.ensureLoaded(u.id);
    const r = ledger.reserve(u.id, 100)!;
    ledger.settle(r, 100);
    await ledger.refresh();
    assert.equal(ledger.snapshot(u.id)!.balanceMicros, 900, 'own cost not yet committed stays subtracted');

    await store.usage.applyBatch([record(u.id, `other-${u.id}`, 300)]); // another node's spending
    await ledger.refresh();
    assert.equal(ledger.snapshot(u.id)!.balanceMicros, 600);

    const own = await store.usage.applyBatch([record(u.id, `own-${u.id}`, 100)]); // our writer commits
    ledger.committed(own.balanceDeltas);
    await ledger.refresh();
    assert.equal(ledger.snapshot(u.id)!.balanceMicros, 600, 'a committed cost is counted once');

    await store.users.credit(u.id, 50);
    await ledger.refresh();
    assert.equal(ledger.snapshot(u.id)!.balanceMicros, 650);
    const [event] = (await store.events.since(0, 10_000)).filter((e) => e.kind === 'user.balance' && e.subject === String(u.id) && e.delta === 50);
    ledger.applyExternalDelta(u.id, 50, event.id); // the change feed delivers the credit later
    assert.equal(ledger.snapshot(u.id)!.balanceMicros, 650, 'a credit the refresh read is not applied twice');
  });
});
