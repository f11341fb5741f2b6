// How the Redis limiter's keys spread over a Redis Cluster.
//
// One admission is one script call, and a script may only touch keys of one
// hash slot. With a single shard (the default for one Redis server) every key
// carries the tag `{rl}`: all limits of every request are judged together,
// exactly, in one slot. On a cluster that slot is one master, the ceiling of
// the whole deployment.
//
// With N shards, a user belongs to shard `userId mod N`, and every key one of
// its admissions needs carries that shard's tag: its user, key and user+model
// limits (exact: only that user's requests touch them) and one N-th part of
// every shared limit (global, per model). A shared limit L is split so that
// the parts add up to L exactly (shard s holds floor(L/N), plus one while
// s < L mod N): the cluster as a whole never admits more than L. The bound is
// the other way: a request is judged against its own shard's part only, so
// under load skewed onto few shards it can be refused while another shard's
// part is unused — admitted per window is at least L minus the unused parts
// of the other shards. Shared limits far above N lose little; a shared limit
// below N cannot be split and leaves some shards at 0 (docs/redis-cluster.md says
// to keep such limits on a single shard).
//
// Shard tags are chosen so that their hash slots are evenly spaced over the
// 16,384 slots (shard s lands in the s-th N-th of the slot range): a cluster
// made with equal slot ranges per master, as `redis-cli --cluster create`
// makes it, then carries an equal number of shards per master.

import keySlot from 'cluster-key-slot';
import type { LimitPolicy, LimitScope } from './limiter.ts';

const SLOTS = 16_384;
// Finding a tag for a range of one slot takes ~16,384 hashes; 1,024 ranges of 16 slots stay quick.
export const MAX_SHARDS = 1_024;

/** Key bases and limit shares of the limiter's shards. */
export class ShardMap {
  readonly count: number;
  /** Key prefix per shard, hash tag included: `<prefix>{<tag>}:`. */
  readonly bases: readonly string[];
  /** Per shard, each shared policy's part (filled on first use; policies are long-lived objects). */
  readonly #parts: WeakMap<LimitPolicy, LimitPolicy>[];

  constructor(keyPrefix: string, hashTag: string, count: number) {
    if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS) throw new RangeError(`redis shards must be an integer from 1 to ${MAX_SHARDS}`);
    this.count = count;
    this.bases = count === 1 ? [`${keyPrefix}{${hashTag}}:`] : Array.from({ length: count }, (_, s) => `${keyPrefix}{${spacedTag(hashTag, s, count)}}:`);
    this.#parts = this.bases.map(() => new WeakMap());
  }

  /** The shard of a user (shard 0 for a request without one). */
  shardOf(userId: number | undefined): number {
    if (this.count === 1 || userId === undefined) return 0;
    const s = userId % this.count;
    return s < 0 ? s + this.count : s;
  }

  /** The policies as shard `shard` judges them: shared limits cut to its part. */
  policiesOf(policies: readonly LimitPolicy[], shard: number): readonly LimitPolicy[] {
    if (this.count === 1) return policies;
    const parts = this.#parts[shard];
    const out = new Array<LimitPolicy>(policies.length);
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i];
      let part = parts.get(p);
      if (part === undefined) {
        const rpm = this.share(p.scope, p.rpm, shard);
        const tpm = this.share(p.scope, p.tpm, shard);
        const concurrency = this.share(p.scope, p.concurrency, shard);
        part = rpm === p.rpm && tpm === p.tpm && concurrency === p.concurrency ? p : { ...p, rpm, tpm, concurrency };
        parts.set(p, part);
      }
      out[i] = part;
    }
    return out;
  }

  /** What shard `shard` holds of a limit of `scope` (null stays null: no such limit). */
  share(scope: LimitScope, limit: number | null, shard: number): number | null {
    if (limit === null || this.count === 1 || !isShared(scope)) return limit;
    const n = this.count;
    return Math.floor(limit / n) + (shard < limit % n ? 1 : 0);
  }
}

/** Limits that every user's requests draw on: split across shards. */
function isShared(scope: LimitScope): boolean {
  return scope === 'global' || scope === 'model';
}

/** A tag `<base>:<s>` or `<base>:<s>.<j>` whose slot falls in the s-th of `count` equal slot ranges. */
function spacedTag(base: string, shard: number, count: number): string {
  const low = Math.floor((shard * SLOTS) / count);
  const high = Math.floor(((shard + 1) * SLOTS) / count);
  for (let j = 0; ; j++) {
    const tag = j === 0 ? `${base}:${shard}` : `${base}:${shard}.${j}`;
    const slot = keySlot(tag);
    if (slot >= low && slot < high) return tag;
  }
}
