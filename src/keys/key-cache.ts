/**
 * In-memory cache of key lookups by hash, so authentication costs one SHA-256 and
 * one Map lookup. Lookups go by hash, not by comparing secrets: an attacker cannot
 * steer a hash-table probe by timing, so no constant-time compare is needed here.
 *
 * Revocation and rule changes reach the cache two ways: the server that makes
 * them calls `forget` (the very next request sees them), and every server's
 * change-feed poller calls `forget` for 'key.revoked' / 'key.changed' /
 * 'user.disabled' events (bounded by the poll interval, or at once with the
 * Redis doorbell). Expiry needs neither: the entry carries its expiry time.
 */
import type { BlockList } from 'node:net';

/** A cached key. The names are there for messages, so a refusal can name the caller without asking the store. */
export interface KeyIdentity {
  readonly keyId: number;
  readonly userId: number;
  readonly keyName: string;
  readonly userName: string;
  readonly revoked: boolean;
  readonly userDisabled: boolean;
  /** Epoch ms from which the key is refused; Infinity: never. */
  readonly expiresAt: number;
  /** The models the key may use; null: any. */
  readonly models: ReadonlySet<string> | null;
  /** The client addresses the key may be used from; null: any. */
  readonly ips: BlockList | null;
  /** The key's model requests use the response cache without asking. */
  readonly cache: boolean;
}
export type KeyLookup = (hash: string) => Promise<KeyIdentity | undefined>;

interface Negative { readonly until: number }
const MAX_ENTRIES = 100_000;
/** Unknown keys are remembered briefly so a flood of bad keys does not hit the store, and a key created elsewhere works within this bound. */
const NEGATIVE_TTL_MS = 1_000;

export class KeyCache {
  readonly #lookup: KeyLookup;
  readonly #entries = new Map<string, KeyIdentity | Negative>();
  readonly #inflight = new Map<string, Promise<KeyIdentity | undefined>>();

  constructor(lookup: KeyLookup) {
    this.#lookup = lookup;
  }

  /** The cached identity, `null` for a known-bad key, or `undefined` when the store must be asked. */
  peek(hash: string, now: number): KeyIdentity | null | undefined {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return undefined;
    if ('until' in entry) {
      if (entry.until > now) return null;
      this.#entries.delete(hash);
      return undefined;
    }
    return entry;
  }

  /**
   * Ask the store once per hash even when many requests miss at the same time.
   * A `forget`/`clear` while the store is being asked detaches that lookup: its
   * answer may predate the revocation, so it goes to its waiters but is not cached.
   */
  load(hash: string): Promise<KeyIdentity | undefined> {
    const pending = this.#inflight.get(hash);
    if (pending !== undefined) return pending;
    const lookup: Promise<KeyIdentity | undefined> = this.#lookup(hash).then(
      (identity) => {
        if (this.#inflight.get(hash) === lookup) {
          this.#inflight.delete(hash);
          this.#remember(hash, identity ?? { until: Date.now() + NEGATIVE_TTL_MS });
        }
        return identity;
      },
      (err) => {
        if (this.#inflight.get(hash) === lookup) this.#inflight.delete(hash);
        throw err;
      },
    );
    this.#inflight.set(hash, lookup);
    return lookup;
  }

  forget(hash: string): void {
    this.#entries.delete(hash);
    this.#inflight.delete(hash);
  }

  /** Drop every entry (e.g. a user was disabled and we do not index keys by user). */
  clear(): void {
    this.#entries.clear();
    this.#inflight.clear();
  }

  #remember(hash: string, entry: KeyIdentity | Negative): void {
    if (this.#entries.size >= MAX_ENTRIES) {
      // Maps iterate in insertion order: dropping the first entry evicts the oldest.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(hash, entry);
  }
}
