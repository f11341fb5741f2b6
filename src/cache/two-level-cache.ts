/**
 * A two-level cache: L1 in this process (lru-cache, bounded by the bytes its
 * entries hold, least recently used out first), L2 in Redis when one is
 * configured (shared by every node, with a TTL). A lookup tries L1, then L2
 * (an L2 hit is copied into L1), and joins the single flight of its key so N
 * identical concurrent misses do the work once. An invalidation drops the
 * entry from L1, from L2 and, over pub/sub, from every other node's L1.
 *
 * Entries carry their expiry time, so an L1 copy made from L2 expires with
 * the shared entry rather than a full TTL later.
 */
import { LRUCache } from 'lru-cache';
import { SingleFlight, type Flight } from './single-flight.ts';
import { EVERY_KEY, type RedisTier } from './redis-tier.ts';

/** How entries become bytes for L2 and back; `sizeOf` is what L1 counts against its bound. */
export interface EntryCodec<V> {
  encode(value: V, expiresAt: number): Buffer;
  /** The entry and its expiry time; null for bytes that are not an entry (another version wrote them). */
  decode(bytes: Buffer): { value: V; expiresAt: number } | null;
  sizeOf(value: V): number;
}

export type CacheLevel = 'l1' | 'l2';

/** Where lookups and sizes are reported (metrics); all calls are cheap counter bumps. */
export interface CacheObserver {
  lookup(level: CacheLevel, hit: boolean): void;
}

export interface TwoLevelCacheOptions<V> {
  /** Names the cache in L2 keys, invalidations and metrics, e.g. 'response'. */
  name: string;
  /** Bound of L1, in bytes as `codec.sizeOf` counts them. */
  maxBytes: number;
  ttlMs: number;
  codec: EntryCodec<V>;
  /** The shared level; null: L1 only. */
  l2: RedisTier | null;
  observer: CacheObserver | null;
}

/** A lookup's answer: the value, or a miss, which the caller leads (`flight`, to settle) or follows after a failed leader (null). */
export type Lookup<V> = { value: V; flight: null } | { value: null; flight: Flight<V> | null };

interface Held<V> {
  readonly value: V;
  readonly expiresAt: number;
}

export class TwoLevelCache<V> {
  readonly name: string;
  readonly #l1: LRUCache<string, Held<V>>;
  readonly #l2: RedisTier | null;
  readonly #codec: EntryCodec<V>;
  readonly #ttlMs: number;
  readonly #flights = new SingleFlight<V>();
  readonly #observer: CacheObserver | null;

  constructor(opts: TwoLevelCacheOptions<V>) {
    this.name = opts.name;
    this.#codec = opts.codec;
    this.#ttlMs = opts.ttlMs;
    this.#l2 = opts.l2;
    this.#observer = opts.observer;
    this.#l1 = new LRUCache<string, Held<V>>({
      maxSize: opts.maxBytes,
      // An entry larger than the whole bound is not held at all (lru-cache refuses it).
      maxEntrySize: opts.maxBytes,
      sizeCalculation: (held) => Math.max(1, opts.codec.sizeOf(held.value)),
      ttl: opts.ttlMs,
      ttlAutopurge: false,
    });
    opts.l2?.listen(opts.name, (key) => (key === EVERY_KEY ? this.#l1.clear() : this.#l1.delete(key)));
  }

  /**
   * The entry for `key`, from L1 or L2, or a miss. On a miss the first caller
   * gets the flight and must settle it (with the value it stored, or null);
   * callers arriving meanwhile wait for that and get its value, or a miss
   * without a flight when the leader had none.
   */
  async lookup(key: string): Promise<Lookup<V>> {
    const local = this.#fromL1(key);
    if (local !== undefined) return { value: local, flight: null };
    const joined = this.#flights.join(key);
    if (joined instanceof Promise) {
      const value = await joined;
      return value === null ? { value: null, flight: null } : { value, flight: null };
    }
    if (this.#l2 !== null) {
      const shared = await this.#fromL2(key);
      if (shared !== null) {
        joined.settle(shared);
        return { value: shared, flight: null };
      }
    }
    return { value: null, flight: joined };
  }

  /** Stores `value` in L1 and L2 and settles `flight` (if any) with it. `announce`: other nodes drop their old copy (a refresh). */
  async store(key: string, value: V, flight: Flight<V> | null, announce = false): Promise<void> {
    const expiresAt = Date.now() + this.#ttlMs;
    this.#l1.set(key, { value, expiresAt });
    flight?.settle(value);
    if (this.#l2 === null) return;
    await this.#l2.set(this.name, key, this.#codec.encode(value, expiresAt), this.#ttlMs);
    if (announce) await this.#l2.announce(this.name, key);
  }

  /** Drops `key` here, in L2 and on every other node. */
  async invalidate(key: string): Promise<void> {
    this.#l1.delete(key);
    await this.#l2?.invalidate(this.name, key);
  }

  /** Drops every entry here, in L2 and on every other node; the number of entries dropped (here and in L2). */
  async clear(): Promise<number> {
    const local = this.#l1.size;
    this.#l1.clear();
    return local + (this.#l2 === null ? 0 : await this.#l2.clear(this.name));
  }

  /**
   * The value for `key`, loading it once for all concurrent callers on a miss
   * (a null from `load` is not cached).
   */
  async getOrLoad(key: string, load: () => Promise<V | null>): Promise<V | null> {
    const found = await this.lookup(key);
    if (found.value !== null) return found.value;
    const flight = found.flight;
    let value: V | null = null;
    try {
      value = await load();
    } finally {
      if (value === null) flight?.settle(null);
    }
    if (value !== null) await this.store(key, value, flight);
    return value;
  }

  /** Whether L1 holds a live entry for `key` (no recency update; for tests and diagnostics). */
  holds(key: string): boolean {
    const held = this.#l1.peek(key);
    return held !== undefined && held.expiresAt > Date.now();
  }

  /** Bytes L1 holds, as `codec.sizeOf` counts them. */
  get bytes(): number {
    return this.#l1.calculatedSize;
  }

  get entries(): number {
    return this.#l1.size;
  }

  #fromL1(key: string): V | undefined {
    const held = this.#l1.get(key);
    if (held !== undefined && held.expiresAt > Date.now()) {
      this.#observer?.lookup('l1', true);
      return held.value;
    }
    this.#observer?.lookup('l1', false);
    return undefined;
  }

  async #fromL2(key: string): Promise<V | null> {
    const bytes = await this.#l2!.get(this.name, key);
    const entry = bytes === null ? null : this.#codec.decode(bytes);
    const live = entry !== null && entry.expiresAt > Date.now();
    this.#observer?.lookup('l2', live);
    if (!live) return null;
    this.#l1.set(key, { value: entry.value, expiresAt: entry.expiresAt }, { ttl: entry.expiresAt - Date.now() });
    return entry.value;
  }
}
