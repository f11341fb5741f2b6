import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyCache, type KeyIdentity } from '../src/keys/key-cache.ts';

/** A store lookup the test answers by hand (oldest question of a hash first), counting the questions. */
function manualStore(): {
  lookup: (hash: string) => Promise<KeyIdentity | undefined>;
  asked: string[];
  answer: (hash: string, identity: KeyIdentity | undefined, which?: 'oldest' | 'newest') => void;
  fail: (hash: string, err: Error) => void;
} {
  const asked: string[] = [];
  const waiting = new Map<string, { resolve: (v: KeyIdentity | undefined) => void; reject: (e: Error) => void }[]>();
  const next = (hash: string, which: 'oldest' | 'newest') => {
    const queue = waiting.get(hash) ?? [];
    const w = which === 'oldest' ? queue.shift() : queue.pop();
    assert.ok(w !== undefined, `no open question for ${hash}`);
    return w;
  };
  return {
    asked,
    lookup: (hash) => {
      asked.push(hash);
      return new Promise((resolve, reject) => {
        const queue = waiting.get(hash) ?? [];
        queue.push({ resolve, reject });
        waiting.set(hash, queue);
      });
    },
    answer: (hash, identity, which = 'oldest') => next(hash, which).resolve(identity),
    fail: (hash, err) => next(hash, 'oldest').reject(err),
  };
}

/** A key without expiry, model or address rules. */
const NO_RULES = { expiresAt: Number.POSITIVE_INFINITY, models: null, ips: null, cache: false } as const;

function identity(keyId: number, userId = 1): KeyIdentity {
  return { keyId, userId, keyName: 'default', userName: `user${userId}`, revoked: false, userDisabled: false, ...NO_RULES };
}

/** A lookup that answers at once from a table. */
function tableStore(table: Record<string, KeyIdentity>): { lookup: (hash: string) => Promise<KeyIdentity | undefined>; asked: string[] } {
  const asked: string[] = [];
  return { asked, lookup: async (hash) => (asked.push(hash), table[hash]) };
}

test('a miss asks the store once; afterwards the identity is served from the cache', async () => {
  const id = identity(7, 3);
  const store = tableStore({ h1: id });
  const cache = new KeyCache(store.lookup);
  assert.equal(cache.peek('h1', Date.now()), undefined, 'unknown before the first load');
  assert.equal(await cache.load('h1'), id);
  assert.deepEqual(store.asked, ['h1']);
  assert.equal(cache.peek('h1', Date.now()), id, 'a hit returns the cached identity');
  assert.equal(cache.peek('h2', Date.now()), undefined, 'other hashes still miss');
  assert.deepEqual(store.asked, ['h1'], 'peek never asks the store');
});

test('a known key stays cached with no expiry: only forget/clear drop it', async () => {
  const id = identity(1);
  const cache = new KeyCache(tableStore({ h: id }).lookup);
  await cache.load('h');
  const aYearLater = Date.now() + 365 * 24 * 3600_000;
  assert.equal(cache.peek('h', aYearLater), id);
});

test('revoked keys and disabled users are cached as the store reports them; the caller refuses them', async () => {
  const revoked: KeyIdentity = { keyId: 1, userId: 1, keyName: 'default', userName: 'u1', revoked: true, userDisabled: false, ...NO_RULES };
  const disabled: KeyIdentity = { keyId: 2, userId: 2, keyName: 'default', userName: 'u2', revoked: false, userDisabled: true, ...NO_RULES };
  const store = tableStore({ r: revoked, d: disabled });
  const cache = new KeyCache(store.lookup);
  assert.equal(await cache.load('r'), revoked);
  assert.equal(await cache.load('d'), disabled);
  assert.equal(cache.peek('r', Date.now()), revoked);
  assert.equal(cache.peek('d', Date.now()), disabled);
});

test('an unknown key is cached as known-bad (null) for one second, then asked again', async () => {
  const store = tableStore({});
  const cache = new KeyCache(store.lookup);
  const before = Date.now();
  assert.equal(await cache.load('bad'), undefined);
  const after = Date.now();
  // The negative entry expires 1,000 ms after the store answered, somewhere in [before, after].
  assert.equal(cache.peek('bad', before + 999), null, 'known-bad within the second');
  assert.equal(cache.peek('bad', after + 1_000), undefined, 'expired');
  assert.equal(cache.peek('bad', before), undefined, 'the expired entry was deleted, not just hidden');
  assert.equal(await cache.load('bad'), undefined);
  assert.deepEqual(store.asked, ['bad', 'bad'], 'the store is asked again after expiry');
});

test('forget drops one entry, positive or negative; clear drops them all', async () => {
  const a = identity(1);
  const b = identity(2);
  const cache = new KeyCache(tableStore({ a, b }).lookup);
  await cache.load('a');
  await cache.load('b');
  await cache.load('nope');
  const now = Date.now();
  cache.forget('a');
  assert.equal(cache.peek('a', now), undefined);
  assert.equal(cache.peek('b', now), b, 'forget touches only its hash');
  assert.equal(cache.peek('nope', now), null);
  cache.forget('nope');
  assert.equal(cache.peek('nope', now), undefined, 'a negative entry is forgotten too');
  cache.forget('never-seen'); // harmless
  await cache.load('a');
  await cache.load('nope');
  cache.clear();
  for (const h of ['a', 'b', 'nope']) assert.equal(cache.peek(h, now), undefined, `${h} cleared`);
});

test('concurrent misses of one hash share one store lookup; other hashes get their own', async () => {
  const store = manualStore();
  const cache = new KeyCache(store.lookup);
  const waits = [cache.load('h'), cache.load('h'), cache.load('h')];
  const other = cache.load('g');
  assert.deepEqual(store.asked, ['h', 'g']);
  const id = identity(5);
  store.answer('h', id);
  store.answer('g', undefined);
  for (const got of await Promise.all(waits)) assert.equal(got, id);
  assert.equal(await other, undefined);
  assert.equal(cache.peek('h', Date.now()), id);
  // Once settled, a later load asks again (load does not consult the cache; callers peek first).
  const again = cache.load('h');
  assert.deepEqual(store.asked, ['h', 'g', 'h']);
  store.answer('h', id);
  assert.equal(await again, id);
});

test('a failed lookup rejects every waiter, caches nothing, and the next load asks again', async () => {
  const store = manualStore();
  const cache = new KeyCache(store.lookup);
  const w1 = cache.load('h');
  const w2 = cache.load('h');
  store.fail('h', new Error('store down'));
  await assert.rejects(w1, /store down/);
  await assert.rejects(w2, /store down/);
  assert.equal(cache.peek('h', Date.now()), undefined, 'neither known nor known-bad');
  const w3 = cache.load('h');
  assert.deepEqual(store.asked, ['h', 'h']);
  store.answer('h', identity(9));
  assert.equal((await w3)?.keyId, 9);
});

test('the cache holds at most 100,000 entries: beyond, the first inserted is evicted (insertion order, not recency)', async () => {
  const MAX = 100_000; // MAX_ENTRIES in key-cache.ts
  const id = identity(1);
  const cache = new KeyCache(async () => id);
  for (let i = 0; i < MAX; i++) await cache.load(`h${i}`);
  const now = Date.now();
  assert.equal(cache.peek('h0', now), id, 'a hit does not refresh the entry');
  assert.equal(cache.peek(`h${MAX - 1}`, now), id);
  await cache.load('one-more');
  assert.equal(cache.peek('h0', now), undefined, 'the oldest insertion went');
  assert.equal(cache.peek('h1', now), id, 'only one went');
  assert.equal(cache.peek('one-more', now), id);
});

test('a lookup in flight when its key is forgotten is answered but not cached: a revocation is not undone', async () => {
  const store = manualStore();
  const cache = new KeyCache(store.lookup);
  const before = cache.load('h'); // read before the revocation committed
  cache.forget('h'); // the revocation
  const stale = identity(1);
  store.answer('h', stale);
  assert.equal(await before, stale, 'the request that started earlier gets its answer');
  assert.equal(cache.peek('h', Date.now()), undefined, 'but the pre-revocation identity is not cached');
  const after = cache.load('h');
  assert.deepEqual(store.asked, ['h', 'h'], 'the next request asks the store again');
  const revoked: KeyIdentity = { ...stale, revoked: true };
  store.answer('h', revoked);
  assert.equal(await after, revoked);
  assert.equal(cache.peek('h', Date.now()), revoked);
});

test('clear also stops lookups in flight from filling the cache, and a new load does not join them', async () => {
  const store = manualStore();
  const cache = new KeyCache(store.lookup);
  const early = cache.load('h'); // read before the user was disabled
  cache.clear(); // the user was disabled
  const late = cache.load('h');
  assert.deepEqual(store.asked, ['h', 'h'], 'the load after clear asks afresh');
  const disabled: KeyIdentity = { keyId: 1, userId: 1, keyName: 'default', userName: 'u1', revoked: false, userDisabled: true, ...NO_RULES };
  store.answer('h', disabled, 'newest');
  assert.equal(await late, disabled);
  assert.equal(cache.peek('h', Date.now()), disabled);
  // The slower, older answer arrives last: it must not overwrite the newer one.
  const stale = identity(1);
  store.answer('h', stale);
  assert.equal(await early, stale);
  assert.equal(cache.peek('h', Date.now()), disabled);
});
