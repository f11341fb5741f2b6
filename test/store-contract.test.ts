/**
 * One contract suite run against both stores: SQLite in a temp dir and
 * PostgreSQL in a schema unique to this run (dropped at the end).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { openStore, StoreInputError, type Store, type StoreOptions, type UsageRecordInsert } from '../src/store/store.ts';
import { USAGE_COLUMN_NAMES } from '../src/store/usage-columns.ts';
import { masterKey, SecretBox } from '../src/secrets/secret-box.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let seq = 0;
/** A name unique within this run. */
function uniq(base: string): string {
  seq += 1;
  return `${base}-${seq}`;
}

function record(userId: number, over: Partial<UsageRecordInsert> = {}): UsageRecordInsert {
  return {
    requestId: uniq('req'),
    ts: 1_700_000_000_000,
    userId,
    keyId: 1,
    model: 'gpt-test',
    channelId: null,
    channelKeyId: null,
    status: 200,
    outcome: 'ok',
    attempts: 1,
    latencyMs: 12,
    ttftMs: 5,
    promptTokens: 10,
    completionTokens: 20, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, responseId: null,
    costMicros: 7,
    errorClass: null,
    ...over,
  };
}

async function assertInputError(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof StoreInputError && err.code === code);
}

function contract(name: string, setup: () => Promise<{ store: Store; teardown: () => Promise<void> }>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let teardown: () => Promise<void>;

    before(async () => {
      ({ store, teardown } = await setup());
    });
    after(async () => {
      await teardown();
    });

    test('users: create, find, list, duplicate name', async () => {
      const name = uniq('alice');
      const u = await store.users.create({ name });
      assert.equal(u.name, name);
      assert.equal(u.balanceMicros, 0);
      assert.equal(u.disabled, false);
      assert.deepEqual(await store.users.byName(name), u);
      assert.deepEqual(await store.users.byId(u.id), u);
      assert.equal(await store.users.byName(uniq('nobody')), undefined);
      assert.ok((await store.users.list()).some((x) => x.id === u.id));
      await assertInputError(store.users.create({ name }), 'conflict');
    });

    test('users: credit and disable append change events in order', async () => {
      const u = await store.users.create({ name: uniq('bob') });
      const start = await store.events.latestId();
      assert.equal(await store.users.credit(u.id, 5_000_000), 5_000_000);
      assert.equal(await store.users.credit(u.id, -1_500_000), 3_500_000);
      await store.users.setDisabled(u.id, true);
      assert.equal((await store.users.byId(u.id))?.disabled, true);
      const events = await store.events.since(start);
      assert.deepEqual(
        events.map((e) => [e.kind, e.subject, e.delta]),
        [
          ['user.balance', String(u.id), 5_000_000],
          ['user.balance', String(u.id), -1_500_000],
          ['user.disabled', String(u.id), 1],
        ],
      );
      assert.ok(events[0].id < events[1].id && events[1].id < events[2].id);
      const balances = await store.users.balances([u.id, 999_999_999]);
      assert.deepEqual([...balances], [[u.id, 3_500_000]]);
      await assertInputError(store.users.credit(999_999_999, 1), 'not_found');
      await assertInputError(store.users.credit(u.id, 0.5), 'invalid');
    });

    test('users: concurrent credits are all applied, events strictly ordered', async () => {
      const u = await store.users.create({ name: uniq('carol') });
      const start = await store.events.latestId();
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.users.credit(u.id, i + 1)));
      assert.equal((await store.users.byId(u.id))?.balanceMicros, 210);
      const events = await store.events.since(start);
      assert.equal(events.length, 20);
      assert.equal(events.reduce((s, e) => s + e.delta, 0), 210);
    });

    test('keys: insert, find by hash, revoke by prefix and id', async () => {
      const u = await store.users.create({ name: uniq('dave') });
      const hash1 = 'a'.repeat(60) + String(seq).padStart(4, '0');
      const hash2 = 'b'.repeat(60) + String(seq).padStart(4, '0');
      const prefix1 = uniq('tg-k1').slice(0, 10);
      const k1 = await store.keys.insert({ userId: u.id, name: 'laptop', keyHash: hash1, prefix: prefix1 });
      const k2 = await store.keys.insert({ userId: u.id, name: 'ci', keyHash: hash2, prefix: uniq('tg-k2').slice(0, 10) });
      assert.equal(k1.revokedAt, null);
      assert.deepEqual(await store.keys.findByHash(hash1), { id: k1.id, userId: u.id, name: k1.name, userName: u.name, revoked: false, userDisabled: false, expiresAt: null, models: null, ips: null, cache: false });
      assert.equal(await store.keys.findByHash('f'.repeat(64)), undefined);
      assert.deepEqual((await store.keys.listByUser(u.id)).map((k) => k.id), [k1.id, k2.id]);
      assert.ok((await store.keys.list()).some((k) => k.id === k2.id));
      await assertInputError(store.keys.insert({ userId: u.id, name: 'dup', keyHash: hash1, prefix: 'x' }), 'conflict');
      await assertInputError(store.keys.insert({ userId: 999_999_999, name: 'x', keyHash: 'c'.repeat(64), prefix: 'x' }), 'not_found');

      const start = await store.events.latestId();
      assert.equal(await store.keys.revoke(prefix1), true);
      assert.equal(await store.keys.revoke(prefix1), false);
      assert.equal((await store.keys.findByHash(hash1))?.revoked, true);
      assert.equal(await store.keys.revoke(k2.id), true);
      assert.equal(await store.keys.revoke(999_999_999), false);
      const events = await store.events.since(start);
      assert.deepEqual(events.map((e) => [e.kind, e.subject]), [['key.revoked', hash1], ['key.revoked', hash2]]);

      await store.users.setDisabled(u.id, true);
      assert.equal((await store.keys.findByHash(hash2))?.userDisabled, true);
    });

    test('keys: an ambiguous prefix is refused, nothing revoked', async () => {
      const u = await store.users.create({ name: uniq('erin') });
      const prefix = uniq('tg-dup').slice(0, 10);
      await store.keys.insert({ userId: u.id, name: 'a', keyHash: uniq('hash-a'), prefix });
      await store.keys.insert({ userId: u.id, name: 'b', keyHash: uniq('hash-b'), prefix });
      await assertInputError(store.keys.revoke(prefix), 'conflict');
      assert.ok((await store.keys.listByUser(u.id)).every((k) => k.revokedAt === null));
    });

    test('users and keys: case-insensitive search, keyset pages both ways', async () => {
      const tag = uniq('Srch_');
      const a = await store.users.create({ name: `${tag}-A` });
      const b = await store.users.create({ name: `${tag.toLowerCase()}%b` });
      const first = await store.users.page({ search: tag.toUpperCase(), limit: 1 });
      assert.deepEqual([first.items.map((u) => u.id), first.hasMore], [[a.id], true]);
      const rest = await store.users.page({ search: tag, limit: 1, after: a.id });
      assert.deepEqual([rest.items.map((u) => u.id), rest.hasMore], [[b.id], false]);
      assert.deepEqual((await store.users.page({ search: `${tag}%`.toLowerCase() })).items.map((u) => u.id), [b.id], "'%' is no wildcard");
      assert.deepEqual((await store.users.page({ search: tag, order: 'desc' })).items.map((u) => u.id), [b.id, a.id]);
      const k1 = await store.keys.insert({ userId: a.id, name: 'Build-Box', keyHash: uniq('hash-p1'), prefix: 'tg-Pq1' });
      const k2 = await store.keys.insert({ userId: b.id, name: 'x', keyHash: uniq('hash-p2'), prefix: 'tg-Pq2' });
      assert.deepEqual((await store.keys.page({ search: 'build-b', userId: a.id })).items.map((k) => k.id), [k1.id]);
      assert.deepEqual((await store.keys.page({ search: tag, order: 'desc', limit: 5 })).items.map((k) => k.id), [k2.id, k1.id], "by owner's name");
      assert.deepEqual((await store.keys.page({ prefix: 'tg-Pq', search: tag })).items.map((k) => k.id), [k1.id, k2.id]);
      assert.deepEqual((await store.keys.page({ prefix: 'tg-pq', search: tag })).items, [], 'the prefix is case-sensitive');
      await store.keys.revoke(k1.id);
      assert.deepEqual((await store.keys.page({ search: tag, revoked: false })).items.map((k) => k.id), [k2.id]);
    });

    test('keys: expiry, model and address rules stored, read back, changed by patch with a key.changed event', async () => {
      const u = await store.users.create({ name: uniq('gina') });
      const hash = 'd'.repeat(60) + String(seq).padStart(4, '0');
      const prefix = uniq('tg-gov').slice(0, 10);
      const expiresAt = 1_900_000_000_000;
      const k = await store.keys.insert({ userId: u.id, name: 'gov', keyHash: hash, prefix, expiresAt, models: ['gpt-4o', 'mock-gpt'], ips: ['10.0.0.0/8', '::1/128'] });
      assert.deepEqual([k.expiresAt, k.models, k.ips], [expiresAt, ['gpt-4o', 'mock-gpt'], ['10.0.0.0/8', '::1/128']]);
      const found = await store.keys.findByHash(hash);
      assert.deepEqual([found?.expiresAt, found?.models, found?.ips], [expiresAt, ['gpt-4o', 'mock-gpt'], ['10.0.0.0/8', '::1/128']]);
      assert.deepEqual((await store.keys.byId(k.id))?.models, ['gpt-4o', 'mock-gpt']);

      const start = await store.events.latestId();
      const changed = await store.keys.update(prefix, { models: ['mock-gpt'], ips: null });
      assert.deepEqual([changed?.expiresAt, changed?.models, changed?.ips], [expiresAt, ['mock-gpt'], null], 'fields not given keep their value');
      const lifted = await store.keys.update(k.id, { expiresAt: null });
      assert.deepEqual([lifted?.expiresAt, lifted?.models], [null, ['mock-gpt']]);
      assert.deepEqual((await store.events.since(start)).map((e) => [e.kind, e.subject]), [['key.changed', hash], ['key.changed', hash]]);

      assert.equal(await store.keys.update(999_999_999, { models: null }), undefined);
      await assertInputError(store.keys.update(k.id, {}), 'invalid');
      await assertInputError(store.keys.update(k.id, { models: [] }), 'invalid');
      await assertInputError(store.keys.insert({ userId: u.id, name: 'x', keyHash: uniq('hash-x'), prefix: 'x', ips: [] }), 'invalid');
      assert.equal(await store.keys.revoke(k.id), true);
      assert.equal(await store.keys.update(k.id, { models: null }), undefined, 'a revoked key keeps its rules');
      assert.equal((await store.events.since(start)).length, 3, 'no event without a change');

      const dup = uniq('tg-dup2').slice(0, 10);
      await store.keys.insert({ userId: u.id, name: 'a', keyHash: uniq('hash-da'), prefix: dup });
      await store.keys.insert({ userId: u.id, name: 'b', keyHash: uniq('hash-db'), prefix: dup });
      await assertInputError(store.keys.update(dup, { expiresAt: expiresAt }), 'conflict');
      assert.ok((await store.keys.listByUser(u.id)).filter((x) => x.prefix === dup).every((x) => x.expiresAt === null), 'an ambiguous prefix changes nothing');
    });

    test('channels: models, keys, enable flags, events', async () => {
      const start = await store.events.latestId();
      const name = uniq('openai-main');
      const ch = await store.channels.add({
        name,
        type: 'openai',
        baseUrl: 'http://127.0.0.1:1/v1',
        priority: 2,
        models: [
          { model: 'gpt-4o', upstreamModel: 'gpt-4o-2024-08-06' },
          { model: 'gpt-4o-mini', upstreamModel: 'gpt-4o-mini' },
        ],
      });
      assert.equal(ch.weight, 1);
      assert.equal(ch.priority, 2);
      assert.equal(ch.enabled, true);
      const key1 = await store.channels.addKey(ch.id, 'sk-upstream-1');
      const key2 = await store.channels.addKey(ch.id, 'sk-upstream-2');
      assert.equal(key1.enabled, true);
      assert.equal(await store.channels.setKeyEnabled(key2.id, false), true);
      assert.equal(await store.channels.setEnabled(ch.id, false), true);
      assert.equal(await store.channels.setEnabled(999_999_999, false), false);
      assert.equal((await store.channels.byName(name))?.enabled, false);

      const full = (await store.channels.listFull()).find((c) => c.id === ch.id);
      assert.ok(full);
      assert.equal(full.enabled, false);
      assert.deepEqual(full.models, [
        { model: 'gpt-4o', upstreamModel: 'gpt-4o-2024-08-06' },
        { model: 'gpt-4o-mini', upstreamModel: 'gpt-4o-mini' },
      ]);
      assert.deepEqual(full.keys.map((k) => [k.secret, k.enabled]), [['sk-upstream-1', true], ['sk-upstream-2', false]]);

      const events = await store.events.since(start);
      assert.deepEqual(events.map((e) => e.kind), ['channels', 'channels', 'channels', 'channels', 'channels']);
      await assertInputError(store.channels.add({ name, type: 'mock', baseUrl: 'x', models: [] }), 'conflict');
      await assertInputError(store.channels.addKey(999_999_999, 'sk'), 'not_found');
      await assertInputError(store.channels.add({ name: uniq('bad'), type: 'nope' as 'mock', baseUrl: 'x', models: [] }), 'invalid');
    });

    test('prices: upsert with and without channel', async () => {
      const model = uniq('model');
      const ch = await store.channels.add({ name: uniq('ch'), type: 'mock', baseUrl: 'mock://', models: [] });
      const start = await store.events.latestId();
      const any1 = await store.prices.set({ model, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000, free: false });
      const any2 = await store.prices.set({ model, inputMicrosPerMTok: 3, outputMicrosPerMTok: 4, free: true });
      assert.equal(any2.id, any1.id);
      assert.equal(any2.channelId, null);
      const onCh = await store.prices.set({ model, channelId: ch.id, inputMicrosPerMTok: 5, outputMicrosPerMTok: 6, free: false });
      const onCh2 = await store.prices.set({ model, channelId: ch.id, inputMicrosPerMTok: 7, outputMicrosPerMTok: 8, free: false });
      assert.equal(onCh2.id, onCh.id);
      assert.notEqual(onCh.id, any1.id);

      const mine = (await store.prices.list()).filter((p) => p.model === model);
      assert.deepEqual(
        mine.map((p) => [p.channelId, p.inputMicrosPerMTok, p.outputMicrosPerMTok, p.free]).sort(),
        [[ch.id, 7, 8, false], [null, 3, 4, true]].sort(),
      );
      assert.equal((await store.events.since(start)).filter((e) => e.kind === 'prices').length, 4);
      assert.equal(await store.prices.remove(model, ch.id), true);
      assert.equal(await store.prices.remove(model, ch.id), false);
      assert.equal(await store.prices.remove(model), true);
      await assertInputError(store.prices.set({ model, inputMicrosPerMTok: 1.5, outputMicrosPerMTok: 1, free: false }), 'invalid');
      await assertInputError(
        store.prices.set({ model, channelId: 999_999_999, inputMicrosPerMTok: 1, outputMicrosPerMTok: 1, free: false }),
        'not_found',
      );
    });

    test('limits: patch changes only the limits given, creating the policy if needed', async () => {
      const subject = uniq('user');
      const start = await store.events.latestId();
      const created = await store.limits.patch({ scope: 'user', subject, tpm: 500 });
      assert.deepEqual(created, { id: created.id, scope: 'user', subject, rpm: null, tpm: 500, concurrency: null });
      await store.limits.patch({ scope: 'user', subject, rpm: 60, concurrency: 4 });
      const patched = await store.limits.patch({ scope: 'user', subject, tpm: 1000 });
      assert.deepEqual(patched, { id: created.id, scope: 'user', subject, rpm: 60, tpm: 1000, concurrency: 4 });
      const lifted = await store.limits.patch({ scope: 'user', subject, rpm: null });
      assert.deepEqual(lifted, { id: created.id, scope: 'user', subject, rpm: null, tpm: 1000, concurrency: 4 });
      assert.equal((await store.events.since(start)).filter((e) => e.subject === `user:${subject}`).length, 4, 'every patch reaches the change feed');
      await assertInputError(store.limits.patch({ scope: 'user', subject }), 'invalid');
      await assertInputError(store.limits.patch({ scope: 'user', subject, tpm: -1 }), 'invalid');
      assert.equal(await store.limits.remove('user', subject), true);
    });

    test('limits: upsert and remove', async () => {
      const subject = uniq('user');
      const start = await store.events.latestId();
      const a = await store.limits.set({ scope: 'user', subject, rpm: 60, tpm: null, concurrency: 2 });
      const b = await store.limits.set({ scope: 'user', subject, rpm: 120, tpm: 10_000, concurrency: null });
      assert.equal(b.id, a.id);
      const g = await store.limits.set({ scope: 'global', subject: '', rpm: 1000, tpm: null, concurrency: null });
      const list = await store.limits.list();
      assert.deepEqual(list.find((l) => l.id === a.id), { id: a.id, scope: 'user', subject, rpm: 120, tpm: 10_000, concurrency: null });
      assert.ok(list.some((l) => l.id === g.id));
      assert.equal(await store.limits.remove('user', subject), true);
      assert.equal(await store.limits.remove('user', subject), false);
      assert.equal((await store.limits.list()).some((l) => l.id === a.id), false);
      const events = await store.events.since(start);
      assert.deepEqual(events.map((e) => [e.kind, e.subject]), [
        ['limits', `user:${subject}`],
        ['limits', `user:${subject}`],
        ['limits', 'global:'],
        ['limits', `user:${subject}`],
      ]);
      await assertInputError(store.limits.set({ scope: 'bogus' as 'user', subject: 'x', rpm: 1, tpm: null, concurrency: null }), 'invalid');
      await assertInputError(store.limits.set({ scope: 'global', subject: 'x', rpm: 1, tpm: null, concurrency: null }), 'invalid');
      await assertInputError(store.limits.set({ scope: 'user', subject, rpm: -1, tpm: null, concurrency: null }), 'invalid');
    });

    test('budgets: one per subject and period, upserted; removed by id; the subject must exist; every change on the feed', async () => {
      const user = await store.users.create({ name: uniq('budget') });
      const start = await store.events.latestId();
      const day = await store.budgets.set({ scope: 'user', subjectId: user.id, period: 'day', mode: 'calendar', limitMicros: 5_000_000 });
      const replaced = await store.budgets.set({ scope: 'user', subjectId: user.id, period: 'day', mode: 'rolling', limitMicros: 9_007_199_254_740_991 });
      assert.equal(replaced.id, day.id);
      const hour = await store.budgets.set({ scope: 'user', subjectId: user.id, period: 'hour', mode: 'calendar', limitMicros: 0 });
      assert.deepEqual(await store.budgets.list({ scope: 'user', subjectId: user.id }), [
        { ...hour },
        { id: day.id, scope: 'user', subjectId: user.id, userId: user.id, period: 'day', mode: 'rolling', limitMicros: 9_007_199_254_740_991, createdAt: day.createdAt },
      ]);
      assert.deepEqual(await store.budgets.find('user', user.id, 'hour'), hour);
      const key = await store.keys.insert({ userId: user.id, name: 'budgeted', keyHash: uniq('hash-budget'), prefix: uniq('tg-b').slice(0, 10) });
      const keyBudget = await store.budgets.set({ scope: 'key', subjectId: key.id, period: 'week', mode: 'calendar', limitMicros: 1 });
      assert.equal(keyBudget.userId, user.id, "a key budget belongs to the key's user");
      assert.equal((await store.budgets.find('key', key.id, 'week'))?.userId, user.id);
      assert.equal(await store.budgets.remove(keyBudget.id), true);
      assert.equal(await store.budgets.remove(hour.id), true);
      assert.equal(await store.budgets.remove(hour.id), false);
      assert.equal(await store.budgets.find('user', user.id, 'hour'), undefined);
      const events = await store.events.since(start);
      assert.deepEqual(events.map((e) => [e.kind, e.subject]).filter(([, subject]) => subject.startsWith('user:')), Array.from({ length: 4 }, () => ['budgets', `user:${user.id}`]));
      await assertInputError(store.budgets.set({ scope: 'key', subjectId: 987_654_321, period: 'day', mode: 'calendar', limitMicros: 1 }), 'not_found');
      await assertInputError(store.budgets.set({ scope: 'user', subjectId: user.id, period: 'year' as 'day', mode: 'calendar', limitMicros: 1 }), 'invalid');
      await assertInputError(store.budgets.set({ scope: 'user', subjectId: user.id, period: 'day', mode: 'calendar', limitMicros: -1 }), 'invalid');
    });

    test('usage: applyBatch debits exactly the new records, replay is a no-op', async () => {
      const u1 = await store.users.create({ name: uniq('u1') });
      const u2 = await store.users.create({ name: uniq('u2') });
      await store.users.credit(u1.id, 1_000_000);
      await store.users.credit(u2.id, 1_000_000);
      const batch = [
        record(u1.id, { costMicros: 100 }),
        record(u1.id, { costMicros: 250 }),
        record(u2.id, { costMicros: 40 }),
        record(u2.id, { costMicros: 0, outcome: 'refused', status: 429 }),
      ];
      const before = await store.usage.count();
      const r1 = await store.usage.applyBatch(batch);
      assert.equal(r1.inserted, 4);
      assert.deepEqual([...r1.balanceDeltas].sort(), [[u1.id, -350], [u2.id, -40]].sort());
      // One debit_seq step per user per debiting batch, returned with the debit.
      assert.deepEqual([...r1.debitSeqs].sort(), [[u1.id, 1], [u2.id, 1]].sort());
      assert.deepEqual(await store.users.ledgerState(u1.id), { balanceMicros: 999_650, debitSeq: 1 });
      assert.equal(await store.usage.count(), before + 4);
      assert.deepEqual([...(await store.users.balances([u1.id, u2.id]))].sort(), [[u1.id, 999_650], [u2.id, 999_960]].sort());

      const replay = await store.usage.applyBatch(batch);
      assert.equal(replay.inserted, 0);
      assert.equal(replay.balanceDeltas.size, 0);
      assert.equal(replay.debitSeqs.size, 0, 'a replay debits nothing, so it takes no debit_seq');
      const mixed = await store.usage.applyBatch([batch[0], record(u1.id, { costMicros: 5 })]);
      assert.equal(mixed.inserted, 1);
      assert.deepEqual([...mixed.debitSeqs], [[u1.id, 2]]);
      assert.deepEqual([...(await store.users.balances([u1.id, u2.id]))].sort(), [[u1.id, 999_645], [u2.id, 999_960]].sort());
      assert.equal(await store.usage.count(), before + 5);
      // The running totals count each record once, replays included, and agree with a scan of the records.
      const allTime = await store.usage.totals({ userId: u1.id });
      assert.deepEqual({ requests: allTime.requests, costMicros: allTime.costMicros }, { requests: 3, costMicros: 355 });
      assert.deepEqual(allTime, await store.usage.totals({ userId: u1.id, from: 0, to: Number.MAX_SAFE_INTEGER }));
      assert.deepEqual(await store.usage.applyBatch([]), { inserted: 0, balanceDeltas: new Map(), debitSeqs: new Map() });
      await assertInputError(store.usage.applyBatch([record(u1.id, { costMicros: 1.5 })]), 'invalid');
    });

    test('usage: every column of the table round-trips through the store', async () => {
      const u = await store.users.create({ name: uniq('cols') });
      // Non-default values in every column, and both sides of each nullable one.
      const full = record(u.id, {
        ts: 1_700_000_123_456, keyId: 9, model: 'gpt-\u00e9 "quoted"', channelId: 3, channelKeyId: 8, status: 502, outcome: 'shutdown_cut',
        attempts: 3, latencyMs: 4321, ttftMs: 0, promptTokens: 11, completionTokens: 22, cachedTokens: 4, cacheWriteTokens: 2, reasoningTokens: 5, costMicros: 33, errorClass: 'ECONNRESET',
      });
      const empty = record(u.id, { ts: 1_700_000_123_455, channelId: null, channelKeyId: null, ttftMs: null, errorClass: null, costMicros: 0 });
      await store.usage.applyBatch([full, empty]);
      const { records } = await store.usage.page({ userId: u.id, limit: 10 });
      assert.deepEqual(records.map(({ id, ...r }) => r), [full, empty]);
      assert.ok(records.every((r) => Number.isSafeInteger(r.id)));
      // The table's columns are exactly the stored ones, in order.
      const row = await store.db.selectFrom('usage_records').selectAll().where('request_id', '=', full.requestId).executeTakeFirstOrThrow();
      assert.deepEqual(Object.keys(row), ['id', ...USAGE_COLUMN_NAMES]);
    });

    test('usage: token counts above 32 bits are held (every count the record accepts fits both stores)', async () => {
      const u = await store.users.create({ name: uniq('big') });
      const big = record(u.id, { promptTokens: 3_000_000_000, completionTokens: Number.MAX_SAFE_INTEGER, costMicros: 7 });
      assert.equal((await store.usage.applyBatch([big])).inserted, 1);
      const { records } = await store.usage.page({ userId: u.id, limit: 1 });
      assert.equal(records[0].promptTokens, 3_000_000_000);
      assert.equal(records[0].completionTokens, Number.MAX_SAFE_INTEGER);
      assert.equal((await store.users.byId(u.id))?.balanceMicros, -7);
    });

    test('usage: a batch larger than one statement is chunked in one transaction', async () => {
      const u = await store.users.create({ name: uniq('bulk') });
      const batch = Array.from({ length: 5000 }, () => record(u.id, { costMicros: 3 }));
      const r = await store.usage.applyBatch(batch);
      assert.equal(r.inserted, 5000);
      assert.equal((await store.users.byId(u.id))?.balanceMicros, -15_000);
      assert.equal((await store.usage.totals({ userId: u.id })).requests, 5000);
    });

    test('usage: 250 records paginate in 3 pages, newest first, no gaps or duplicates', async () => {
      const u = await store.users.create({ name: uniq('pager') });
      // Groups of 3 records share a timestamp, so the id tie-break is exercised.
      const batch = Array.from({ length: 250 }, (_, i) =>
        record(u.id, { ts: 1_700_000_000_000 + Math.floor(i / 3) * 1000, model: i % 2 === 0 ? 'even' : 'odd' }),
      );
      assert.equal((await store.usage.applyBatch(batch)).inserted, 250);
      const seen: number[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      let prev: { ts: number; id: number } | undefined;
      do {
        const page = await store.usage.page({ userId: u.id, cursor, limit: 100 });
        sizes.push(page.records.length);
        for (const r of page.records) {
          if (prev) assert.ok(r.ts < prev.ts || (r.ts === prev.ts && r.id < prev.id), 'descending (ts, id)');
          prev = { ts: r.ts, id: r.id };
          seen.push(r.id);
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.deepEqual(sizes, [100, 100, 50]);
      assert.equal(new Set(seen).size, 250);
      const all = await store.usage.page({ userId: u.id, limit: 1000 });
      assert.deepEqual(all.records.map((r) => r.id), seen);
      assert.equal(all.nextCursor, undefined);
      assert.deepEqual(
        new Set(all.records.map((r) => r.requestId)),
        new Set(batch.map((r) => r.requestId)),
      );
      const first = all.records.find((r) => r.requestId === batch[0].requestId);
      assert.deepEqual(first, { ...batch[0], id: first?.id });

      const odd = await store.usage.page({ userId: u.id, model: 'odd', limit: 1000 });
      assert.equal(odd.records.length, 125);
      const window = await store.usage.page({ userId: u.id, from: 1_700_000_000_000, to: 1_700_000_002_000, limit: 10 });
      assert.equal(window.records.length, 6);
    });

    test('usage: bad cursor or limit is a StoreInputError', async () => {
      await assertInputError(store.usage.page({ cursor: 'not a cursor!', limit: 10 }), 'invalid');
      await assertInputError(store.usage.page({ cursor: Buffer.from('12:x').toString('base64url'), limit: 10 }), 'invalid');
      await assertInputError(store.usage.page({ cursor: '', limit: 10 }), 'invalid');
      await assertInputError(store.usage.page({ cursor: Buffer.from('99999999999999999:1').toString('base64url'), limit: 10 }), 'invalid');
      await assertInputError(store.usage.page({ limit: 0 }), 'invalid');
      await assertInputError(store.usage.page({ limit: 1001 }), 'invalid');
    });

    test('usage: totals', async () => {
      const u = await store.users.create({ name: uniq('tot') });
      const sums = (requests: number, promptTokens: number, completionTokens: number, costMicros: number, cachedTokens = 0, cacheWriteTokens = 0, reasoningTokens = 0) =>
        ({ requests, promptTokens, completionTokens, cachedTokens, cacheWriteTokens, reasoningTokens, costMicros });
      assert.deepEqual(await store.usage.totals({ userId: u.id }), sums(0, 0, 0, 0));
      await store.usage.applyBatch([
        record(u.id, { model: 'a', ts: 1000, promptTokens: 1, completionTokens: 2, costMicros: 3, cachedTokens: 1 }),
        record(u.id, { model: 'a', ts: 2000, promptTokens: 10, completionTokens: 20, costMicros: 30, cacheWriteTokens: 4, reasoningTokens: 5 }),
        record(u.id, { model: 'b', ts: 3000, promptTokens: 100, completionTokens: 200, costMicros: 300 }),
      ]);
      assert.deepEqual(await store.usage.totals({ userId: u.id }), sums(3, 111, 222, 333, 1, 4, 5));
      assert.deepEqual(await store.usage.totals({ userId: u.id, model: 'a' }), sums(2, 11, 22, 33, 1, 4, 5));
      assert.deepEqual(await store.usage.totals({ userId: u.id, from: 2000, to: 3000 }), sums(1, 10, 20, 30, 0, 4, 5));
    });

    test('services: traffic per service over a range (counts, 5xx, 4xx, median latency, bytes)', async () => {
      const name = uniq('svc');
      const call = (ts: number, status: number, latency: number, bytesIn: number) => ({
        ts, user_id: 1, service: name, rule_id: null, method: 'GET', path: '/x', status, bytes_in: bytesIn, bytes_out: 10, latency_ms: latency,
      });
      await store.services.insertCalls([call(1000, 200, 5, 1), call(1001, 200, 9, 2), call(1002, 502, 1, 3), call(1003, 403, 7, 4), call(1004, 200, 100, 5), call(5000, 200, 1, 6)]);
      const rows = (await store.services.traffic(1000, 2000)).filter((r) => r.service === name);
      assert.deepEqual(rows, [{ service: name, requests: 5, errors: 1, refused: 1, latencyP50Ms: 7, bytesIn: 15, bytesOut: 50 }]);
      assert.deepEqual((await store.services.traffic(6000, 7000)).filter((r) => r.service === name), []);
    });

    test('events: append, since with limit, latestId', async () => {
      const start = await store.events.latestId();
      const id1 = await store.events.append('channels', 'manual');
      const id2 = await store.events.append('user.balance', '42', -7);
      assert.ok(id2 > id1 && id1 > start);
      assert.equal(await store.events.latestId(), id2);
      const all = await store.events.since(start);
      assert.deepEqual(all.map((e) => [e.id, e.kind, e.subject, e.delta]), [[id1, 'channels', 'manual', 0], [id2, 'user.balance', '42', -7]]);
      assert.equal(typeof all[0].ts, 'number');
      assert.deepEqual((await store.events.since(start, 1)).map((e) => e.id), [id1]);
      assert.deepEqual(await store.events.since(id2), []);
    });

    test('proxies: add (credentials sealed apart from the URL), bindings, removal; channel first-token timeout', async () => {
      const channel = await store.channels.add({ name: uniq('ftt'), type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', firstTokenTimeoutMs: 1500, models: [] });
      assert.equal(channel.firstTokenTimeoutMs, 1500);
      assert.equal((await store.channels.update(channel.id, { firstTokenTimeoutMs: null })).firstTokenTimeoutMs, null);
      await assertInputError(store.channels.update(channel.id, { firstTokenTimeoutMs: 0 }), 'invalid');
      const name = uniq('px');
      const p = await store.proxies.add({ name, url: 'socks5://u%40x:p%3Aw@127.0.0.1:1080', channelId: channel.id });
      assert.deepEqual({ kind: p.kind, url: p.url, channelId: p.channelId, hasCredentials: p.hasCredentials, enabled: p.enabled }, { kind: 'socks5', url: 'socks5://127.0.0.1:1080', channelId: channel.id, hasCredentials: true, enabled: true });
      const full = (await store.proxies.listFull()).find((x) => x.id === p.id)!;
      assert.deepEqual([full.username, full.password], ['u@x', 'p:w']);
      const row = await store.db.selectFrom('proxies').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow();
      assert.match(row.credentials!, /^v1:/);
      const plain = await store.proxies.add({ name: uniq('px-plain'), url: 'http://127.0.0.1:3128' });
      assert.equal(plain.hasCredentials, false);
      await assertInputError(store.proxies.add({ name, url: 'http://127.0.0.1:3128' }), 'conflict');
      await assertInputError(store.proxies.add({ name: uniq('px'), url: 'ftp://127.0.0.1:21' }), 'invalid');
      await assertInputError(store.proxies.add({ name: uniq('px'), url: 'http://127.0.0.1:3128', channelId: 999_999 }), 'not_found');
      const user = await store.users.create({ name: uniq('bound') });
      const since = await store.events.latestId();
      await store.proxies.bind('user', user.id, p.id);
      await store.proxies.bind('user', user.id, plain.id); // replaces
      assert.deepEqual((await store.proxies.bindings()).filter((b) => b.subjectId === user.id).map((b) => [b.scope, b.proxyId]), [['user', plain.id]]);
      await assertInputError(store.proxies.bind('key', 999_999, p.id), 'not_found');
      await assertInputError(store.proxies.bind('user', user.id, 999_999), 'not_found');
      assert.equal(await store.proxies.setEnabled(p.id, false), true);
      assert.equal(await store.proxies.remove(plain.id), true);
      assert.equal((await store.proxies.bindings()).some((b) => b.proxyId === plain.id), false, 'bindings go with their proxy');
      assert.equal(await store.proxies.remove(plain.id), false);
      assert.equal(await store.proxies.unbind('user', user.id), false);
      assert.ok((await store.events.since(since)).every((e) => e.kind === 'proxies'));
    });
  });
}

contract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-store-'));
  const store = await openStore({ dataDir: join(dir, 'nested') });
  assert.equal(store.dialect, 'sqlite');
  return {
    store,
    teardown: async () => {
      await store.close();
      await store.close(); // idempotent
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

contract('postgres', async () => {
  const schema = `tg_test_${process.pid}_${Date.now()}`;
  // An explicit master key: the data dir does not exist, and no key file is written for a PostgreSQL store.
  const opts: StoreOptions = { databaseUrl: PG_URL, dataDir: '/nonexistent', postgres: { schema, poolSize: 4 }, secrets: new SecretBox({ current: masterKey(Buffer.alloc(32, 7)), previous: [] }) };
  const store = await openStore(opts);
  assert.equal(store.dialect, 'postgres');
  // Opening again on a migrated schema applies nothing and still works.
  const again = await openStore(opts);
  await again.close();
  return {
    store,
    teardown: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
    },
  };
});

describe('sqlite: two stores on one file (server and CLI)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-store-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second instance sees the first one\'s writes and vice versa', async () => {
    const server = await openStore({ dataDir: dir });
    const cli = await openStore({ dataDir: dir });
    try {
      const since = await server.events.latestId();
      const u = await cli.users.create({ name: 'shared' });
      await cli.users.credit(u.id, 123);
      assert.equal((await server.users.byName('shared'))?.balanceMicros, 123);
      const events = await server.events.since(since);
      assert.deepEqual(events.map((e) => [e.kind, e.subject, e.delta]), [['user.balance', String(u.id), 123]]);
      await server.usage.applyBatch([record(u.id, { costMicros: 23 })]);
      assert.equal((await cli.users.byId(u.id))?.balanceMicros, 100);
    } finally {
      await cli.close();
      await server.close();
    }
  });

  test('a CLI in another process writes while the server holds the file open', async () => {
    const server = await openStore({ dataDir: dir });
    try {
      const u = await server.users.create({ name: 'cross-process' });
      const since = await server.events.latestId();
      const storeModule = new URL('../src/store/store.js', import.meta.url).href;
      const script = `
        const { openStore } = await import(${JSON.stringify(storeModule)});
        const s = await openStore({ dataDir: ${JSON.stringify(dir)} });
        await s.users.credit(${u.id}, 500);
        await s.limits.set({ scope: 'global', subject: '', rpm: 5, tpm: null, concurrency: null });
        await s.close();`;
      await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
      assert.equal((await server.users.byId(u.id))?.balanceMicros, 500);
      const events = await server.events.since(since);
      assert.deepEqual(events.map((e) => e.kind), ['user.balance', 'limits']);
    } finally {
      await server.close();
    }
  });
});

test('openStore refuses an unknown database URL', async () => {
  await assertInputError(openStore({ databaseUrl: 'mysql://x', dataDir: '/nonexistent' }), 'invalid');
  await assertInputError(openStore({ databaseUrl: PG_URL, dataDir: '/x', postgres: { schema: 'bad"name' } }), 'invalid');
});
