/**
 * The gateway's one handle on credits, whichever backend holds them:
 *
 *   one node        CreditLedger, judged in the memory admission (ledger-limiter.ts)
 *   N nodes, Redis  RedisCredits, judged inside the limiter's script call
 *   Redis down      'closed': 503 for priced requests; 'local': this node's CreditLedger
 *
 * The ask itself travels in the AdmissionRequest; this gate does what comes
 * before and after it: loading a balance the local ledger will judge, settling
 * a hold with the real cost, and passing commits, refusals and admin credits
 * on to both ledgers (the local one must stay current for a fallback).
 */
import type { CreditHold, Limiter } from '../limiter/limiter.ts';
import type { RedisLimiter } from '../limiter/redis-limiter.ts';
import type { ApplyBatchResult } from '../store/usage-repo.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import { Reservation, type BalanceSnapshot, type CreditLedger } from './ledger.ts';
import { RedisHold, type RedisCredits } from './redis-credits.ts';

export class CreditGate {
  /** This node's ledger; null in a worker thread over Redis (its main thread keeps the local one). */
  readonly ledger: CreditLedger | null;
  readonly redis: RedisCredits | null;
  readonly #limiter: Limiter;

  /** `redis`: the Redis ledger the limiter (a RedisLimiter) judges asks with; null on one node. */
  constructor(ledger: CreditLedger | null, limiter: Limiter, redis: RedisCredits | null) {
    if (ledger === null && redis === null) throw new Error('CreditGate needs a ledger: this node\'s, Redis\'s or both');
    this.ledger = ledger;
    this.#limiter = limiter;
    this.redis = redis;
  }

  /**
   * What to await before admitting a priced request of `userId`: the load of
   * the balance when this node's ledger will judge it (one node, or Redis
   * down under the 'local' policy). null: nothing to wait for.
   */
  prepare(userId: number): Promise<void> | null {
    const ledger = this.ledger;
    if (ledger === null || (this.redis !== null && (this.redis.local === null || this.#limiter.isAvailable()))) return null;
    return ledger.isLoaded(userId) ? null : ledger.ensureLoaded(userId);
  }

  /** Releases a hold and charges the real cost; only the first call per hold counts. */
  settle(hold: CreditHold, costMicros: number): void {
    if (hold instanceof RedisHold) (this.#limiter as RedisLimiter).settleCredit(hold, costMicros);
    else this.ledger?.settle(hold as Reservation, costMicros);
  }

  /** The writer committed a batch: its debits are in the store now. */
  committed(result: ApplyBatchResult, records: readonly UsageRecordInsert[]): void {
    this.ledger?.committed(result.balanceDeltas);
    this.redis?.committed(result, records);
  }

  /** Records the store refused for good: neither ledger may keep their costs. */
  refused(records: readonly UsageRecordInsert[]): void {
    if (this.ledger !== null) for (const r of records) this.ledger.refused(r.userId, r.costMicros);
    this.redis?.refused(records);
  }

  /** A 'user.balance' change event (admin credit) with its feed id. */
  externalCredit(userId: number, delta: number, eventId: number): void {
    this.ledger?.applyExternalDelta(userId, delta, eventId);
    this.redis?.externalCredit(userId, delta, eventId);
  }

  /** The live balance without loading it: Redis's, else this node's ledger's if loaded; null otherwise. */
  async peek(userId: number): Promise<BalanceSnapshot | null> {
    const shared = this.redis === null ? null : await this.redis.snapshot(userId).catch(() => null);
    return shared ?? this.ledger?.snapshot(userId) ?? null;
  }

  /** The balance a key holder sees: Redis's when it has one, else this node's ledger (loaded on demand). */
  async snapshot(userId: number): Promise<BalanceSnapshot> {
    const live = await this.peek(userId);
    if (live !== null) return live;
    const ledger = this.ledger;
    // A worker over Redis keeps no ledger: a balance not in Redis yet is the store's, loaded at the first priced request.
    if (ledger === null) return { balanceMicros: 0, reservedMicros: 0 };
    if (!ledger.isLoaded(userId)) await ledger.ensureLoaded(userId);
    return ledger.snapshot(userId)!;
  }
}
