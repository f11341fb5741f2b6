// What a Redis admission hands back and its settlement needs: the lease id
// (member of each concurrency ZSET), the policies as judged (a shard's part of
// shared limits) and the keys of every policy, so a
// settlement riding on a later script call can address them without
// rebuilding key strings.

import type { Lease, LimitPolicy } from './limiter.ts';
import type { RedisBudgetHold } from './redis-budget.ts';

/** Lease of the Redis backend. */
export class RedisLease implements Lease {
  settled: boolean;
  readonly tokens: number;
  readonly id: string;
  readonly policies: readonly LimitPolicy[];
  /** Two keys per policy: state hash, lease ZSET. */
  readonly keys: string[];
  /** Tokens to charge (positive) or refund (negative) at settlement; 0 once applied. */
  delta: number;
  /** Micro-credits held against budgets; null when none applied. */
  budget: RedisBudgetHold | null;
  /** The key shard of the admission (its settlement rides on a call to the same slot). */
  readonly shard: number;

  constructor(id: string, tokens: number, policies: readonly LimitPolicy[], keys: string[], shard = 0) {
    this.settled = false;
    this.tokens = tokens;
    this.id = id;
    this.policies = policies;
    this.keys = keys;
    this.delta = 0;
    this.budget = null;
    this.shard = shard;
  }
}

/** Whether the lease holds a concurrency slot somewhere (its release must reach Redis). */
export function holdsSlot(lease: RedisLease): boolean {
  for (const p of lease.policies) if (p.concurrency !== null) return true;
  return false;
}
