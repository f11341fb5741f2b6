// Limiter shared by every gateway instance through Redis: ONE round trip per
// request for all its limits, spend budgets (redis-budget.ts) and credit hold
// (metering/redis-credits.ts), and settlements ride along for free.
//
// Round trips: an admission is one EVALSHA of redis-script.ts (ioredis sends
// EVAL once per connection to load it, and again after a NOSCRIPT). A
// settlement does not call Redis itself: it is queued (settlement-queue.ts),
// and the next admission carries the queued settlements in the same script
// call, applied before its own judgment. When traffic pauses, a timer of
// `flushDelayMs` sends what is left in one call for many. Under load that is
// about one call per request.
//
// Keys: `<prefix>{<tag>}:s:<scope>:<subject>` (a hash of RPM/TPM buckets) and
// `<prefix>{<tag>}:c:<scope>:<subject>` (a ZSET of concurrency leases scored
// by deadline, so a crashed node's leases expire). All keys of one request
// carry one hash tag, so they sit in one cluster slot and one script judges
// them atomically: `{rl}` on one Redis server; on a Redis Cluster one tag per
// shard of users (redis-shards.ts), so users spread over the masters.
// Measured (bench/limiter-bench.ts): about 100 us of Redis CPU per request
// with five policies each limiting RPM, TPM and concurrency, so some 10,000
// such requests/s per Redis server or cluster master.
//
// Failure: a call that errors or times out (`commandTimeoutMs`), or no ready
// connection, applies `failPolicy`: 'open' admits through the in-process
// fallback limiter (each instance then enforces the limits alone), 'closed'
// refuses with kind 'unavailable' (HTTP 503). After an error Redis is skipped
// for `breakerMs` so a hung server costs one timeout per period, not one per
// request; ioredis reconnects in the background and Redis is used again once
// ready.

import { randomBytes } from 'node:crypto';
import {
  DEFAULT_WINDOW_MS,
  NO_LIMIT_STATE,
  RateLimitState,
  REFUSAL_KINDS,
  creditsRefused,
  type Admission,
  type AdmissionRequest,
  type CreditAsk,
  type Lease,
  type LimitPolicy,
  type Limiter,
  type LimiterStats,
} from './limiter.ts';
import type { BudgetPolicy, BudgetUsage } from './budget.ts';
import { BudgetCalendar } from './budget-calendar.ts';
import { MemoryLimiter } from './memory-limiter.ts';
import { appendBudgets, budgetHold, budgetRefusal, readBudgetUsage } from './redis-budget.ts';
import { firstConnection, openLimiterPool, waitReady } from './redis-connection.ts';
import type { RedisLimiterOptions, RedisLimiterStats } from './redis-limiter-options.ts';
import { holdsSlot, RedisLease } from './redis-lease.ts';
import { LIMITER_LUA } from './redis-script.ts';
import type { RedisClient } from '../sync/redis-client.ts';
import { appendSettlements, SettlementQueue } from './settlement-queue.ts';
import { ShardMap } from './redis-shards.ts';
import { appendArgv, appendPolicyKeys } from './redis-call.ts';
import type { RedisCredits, RedisHold } from '../metering/redis-credits.ts';

export type { RedisLimiterOptions, RedisLimiterStats } from './redis-limiter-options.ts';

type ScriptClient = RedisClient & {
  tollgateLimitV1(args: (string | number)[]): Promise<number[]>;
};

/** Refusal codes of the credit part (metering/redis-ledger-script.ts). */
const CREDITS = 5;
const LOAD_BALANCE = 6;
/** The ledger part of a call without a ledger: no ask, no settlements. */
const NO_LEDGER_ARGS: readonly (string | number)[] = [0, 0, '', 0, 0, 0];
const NO_POLICIES: readonly LimitPolicy[] = [];
const NO_BUDGETS: readonly BudgetPolicy[] = [];
// Settle-only flushes carry more: nothing waits on them.
const FLUSH_BATCH = 256;

function tokenCount(tokens: number): number {
  return tokens > 0 ? Math.ceil(tokens) : 0;
}

/** The Redis {@link Limiter}. */
export class RedisLimiter implements Limiter {
  readonly kind = 'redis';
  readonly windowMs: number;
  readonly fallback: MemoryLimiter;
  private readonly clients: readonly ScriptClient[];
  private readonly owned: boolean;
  private readonly shards: ShardMap;
  private readonly calendar: BudgetCalendar;
  private readonly leaseTtlMs: number;
  private readonly failOpen: boolean;
  private readonly breakerMs: number;
  private readonly flushDelayMs: number;
  private readonly maxPiggyback: number;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly credits: RedisCredits | null;
  private readonly idPrefix: string;
  private nextId: number;
  private nextClient: number;
  private skipUntil: number;
  /** When the last admission call left: queued settlements ride on the next one. */
  private lastCallAt: number;
  /** Settlements per shard: a script call may carry only keys of its own slot. */
  private readonly pending: SettlementQueue[];
  private timer: NodeJS.Timeout | null;
  private readonly counters: RedisLimiterStats;
  private readonly flushTick: () => void;
  /** Pending until the first connection is ready (bounded by the command timeout); null after. */
  private startup: Promise<boolean> | null;

  constructor(options: RedisLimiterOptions) {
    const r = options.redis;
    this.owned = typeof r === 'string';
    const clients = typeof r === 'string' ? openLimiterPool(r, options.poolSize ?? 1, options) : Array.isArray(r) ? [...r] : [r as RedisClient];
    if (clients.length === 0) throw new RangeError('RedisLimiter needs at least one client');
    for (const c of clients) {
      if (this.owned) c.on('error', (err: Error) => this.report(err));
      if (typeof (c as Partial<ScriptClient>).tollgateLimitV1 !== 'function') c.defineCommand('tollgateLimitV1', { lua: LIMITER_LUA });
    }
    this.clients = clients as ScriptClient[];
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    if (!Number.isInteger(this.windowMs) || this.windowMs <= 0) throw new RangeError('windowMs must be a positive integer');
    this.fallback = options.fallback ?? new MemoryLimiter({ windowMs: this.windowMs, timeZone: options.timeZone });
    this.calendar = new BudgetCalendar(options.timeZone ?? 'UTC');
    this.shards = options.shardMap ?? new ShardMap(options.keyPrefix ?? 'tollgate:', options.hashTag ?? 'rl', options.shards ?? 1);
    this.leaseTtlMs = options.leaseTtlMs ?? 600_000;
    this.failOpen = (options.failPolicy ?? 'open') === 'open';
    this.breakerMs = options.breakerMs ?? 1000;
    this.flushDelayMs = options.flushDelayMs ?? 5;
    this.maxPiggyback = options.maxPiggyback ?? 32;
    this.onError = options.onError;
    this.credits = options.credits ?? null;
    this.credits?.attach(this.clients[0]);
    this.idPrefix = randomBytes(6).toString('base64url') + ':';
    this.nextId = 0;
    this.nextClient = 0;
    this.skipUntil = 0;
    this.lastCallAt = 0;
    const perShard = Math.max(1, Math.ceil((options.maxPending ?? 10_000) / this.shards.count));
    this.pending = this.shards.bases.map(() => new SettlementQueue(perShard));
    this.timer = null;
    this.counters = { calls: 0, flushCalls: 0, errors: 0, failOpen: 0, failClosed: 0, droppedSettlements: 0, pendingSettlements: 0 };
    // Requests arriving while the first connection is still being made wait
    // for it (within the command timeout) instead of failing over at once.
    this.startup = firstConnection(this.clients, options.commandTimeoutMs ?? 250).then((ok) => {
      this.startup = null;
      return ok;
    });
    this.flushTick = () => {
      this.timer = null;
      // Under load an admission call leaves every few ms and carries the
      // queue for free; flush alone only when traffic has paused.
      // A shard's keys are touched only by admissions of that shard, so its
      // settlements may wait for its next admission however busy the others are.
      if (Date.now() - this.lastCallAt < this.flushDelayMs && this.pending.every((q, shard) => q.length + (this.credits?.pendingIn(shard) ?? 0) <= this.maxPiggyback)) {
        this.schedule(this.flushDelayMs);
        return;
      }
      void this.flush();
    };
  }

  /** Resolves true once every connection is ready (false after `timeoutMs`); admissions work before, via the fail policy. */
  ready(timeoutMs = 2000): Promise<boolean> {
    return waitReady(this.clients, timeoutMs);
  }

  /** True while some connection is ready and no recent error has Redis skipped (for /readyz). */
  isAvailable(): boolean {
    return this.pickClient() !== null;
  }

  /** Current counters. */
  stats(): RedisLimiterStats {
    let pendingSettlements = this.credits?.pendingSettlements ?? 0;
    for (const queue of this.pending) pendingSettlements += queue.length;
    return { ...this.counters, pendingSettlements };
  }

  async admit(req: AdmissionRequest, rebuilt = false): Promise<Admission> {
    const shard = this.shards.shardOf(req.userId);
    const policies = this.shards.policiesOf(req.policies, shard);
    const n = policies.length;
    const tokens = tokenCount(req.tokens);
    const lease = new RedisLease(this.idPrefix + (this.nextId++).toString(36), tokens, policies, new Array<string>(2 * n), shard);
    const budgets = req.budgets ?? NO_BUDGETS;
    const micros = req.micros ?? 0;
    const ask = this.credits === null ? null : (req.credit ?? null);
    if (n === 0 && budgets.length === 0 && ask === null) return { allowed: true, lease, state: new RateLimitState(-1, -1, -1, -1, -1, -1) };
    let client = this.pickClient();
    if (client === null && this.startup !== null) {
      await this.startup;
      client = this.pickClient();
    }
    if (client === null) return this.unavailable(req);

    // Layout: numkeys, KEYS (request, settlements, ledger, budgets), ARGV in the same sections (redis-call.ts).
    const args: (string | number)[] = [0];
    const base = this.shards.bases[shard];
    appendPolicyKeys(args, base, policies, lease.keys);
    const carried = this.pending[shard].take(this.maxPiggyback);
    const slots = carried === null ? null : appendSettlements(args, carried);
    const holds = this.credits?.take(this.maxPiggyback, shard) ?? null;
    const ledger = this.ledgerPart(args, ask, holds);
    const budgetKeys = new Array<string>(budgets.length);
    const budgetArgs = appendBudgets(args, base, this.calendar, budgets, micros, budgetKeys, carried);
    appendArgv(args, tokens, lease.id, this.windowMs, this.leaseTtlMs, policies, slots, ledger, budgetArgs);

    let reply: number[];
    try {
      this.counters.calls++;
      this.lastCallAt = Date.now();
      reply = await client.tollgateLimitV1(args);
    } catch (err) {
      if (holds !== null) this.credits!.requeue(holds);
      this.failed(err as Error, carried);
      // The script may have run before the reply was lost: release its lease
      // and its credit hold (both idempotent) so neither blocks until its TTL.
      if (holdsSlot(lease)) this.enqueue(lease);
      if (ask !== null) this.settleCredit(this.credits!.holdFor(ask), 0);
      return this.unavailable(req);
    }
    if (reply[2] === LOAD_BALANCE && ask !== null && !rebuilt) {
      // The balance is not in Redis (first use, restart, eviction): load it from the store, ask once more.
      try {
        await this.credits!.rebuild(ask.userId);
      } catch (err) {
        this.report(err as Error);
        return this.unavailable(req);
      }
      return this.admit(req, true);
    }
    const state = new RateLimitState(reply[4], reply[5], reply[6], reply[7], reply[8], reply[9]);
    if (reply[0] === 1) {
      if (budgets.length > 0) lease.budget = budgetHold(budgets, budgetKeys, micros, reply[10]);
      return ask === null ? { allowed: true, lease, state } : { allowed: true, lease, state, hold: this.credits!.holdFor(ask) };
    }
    if (reply[11] > 0) {
      const b = budgets[reply[11] - 1];
      return { allowed: false, scope: b.scope, subject: b.subject, kind: 'budget', limit: b.limitMicros, retryAfterMs: reply[12], state, budget: budgetRefusal(b, micros, reply, this.calendar) };
    }
    if (reply[2] === CREDITS) return creditsRefused(ask!.userId, reply[14], reply[15], state);
    if (reply[2] === LOAD_BALANCE) return this.unavailable(req);
    // The refusal names the policy as configured, not this shard's part of it.
    const p = req.policies[reply[1] - 1];
    const kind = REFUSAL_KINDS[reply[2] - 1];
    const limit = (kind === 'rpm' ? p.rpm : kind === 'tpm' ? p.tpm : p.concurrency) ?? -1;
    return { allowed: false, scope: p.scope, subject: p.subject, kind, limit, retryAfterMs: reply[3], state };
  }

  settle(lease: Lease, actualTokens: number, actualMicros = 0): void {
    if (!(lease instanceof RedisLease)) {
      this.fallback.settle(lease, actualTokens, actualMicros);
      return;
    }
    if (lease.settled) return;
    lease.settled = true;
    lease.delta = tokenCount(actualTokens) - lease.tokens;
    let tpm = false;
    let slot = false;
    for (const p of lease.policies) {
      if (p.tpm !== null) tpm = true;
      if (p.concurrency !== null) slot = true;
    }
    if (!tpm) lease.delta = 0;
    if (lease.budget !== null) lease.budget.delta = actualMicros - lease.budget.micros;
    if (lease.delta !== 0 || slot || (lease.budget !== null && lease.budget.delta !== 0)) this.enqueue(lease);
  }

  /** Budget spend as Redis holds it (one read per budget); the fallback's count while Redis is unavailable. */
  async budgetUsage(budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]> {
    const client = this.pickClient();
    if (client === null) return this.fallback.budgetUsage(budgets);
    // A budget's counters sit in its owner's shard, where that user's admissions judge it.
    return readBudgetUsage(client, (b) => this.shards.bases[this.shards.shardOf(b.userId)], this.calendar, budgets);
  }

  /** Queues a credit hold's real cost; like a lease settlement, it rides on the next call to its shard. */
  settleCredit(hold: RedisHold, costMicros: number): void {
    this.credits?.settle(hold, costMicros);
    this.schedule(this.flushDelayMs);
  }

  /** Sends every queued settlement now: one call per shard with settlements (per batch). */
  async flush(): Promise<void> {
    for (let shard = 0; shard < this.pending.length; shard++) {
      if (!(await this.flushShard(shard))) return;
    }
  }

  /** Sends one shard's settlements; false when Redis is unusable (a retry is scheduled). */
  private async flushShard(shard: number): Promise<boolean> {
    const queue = this.pending[shard];
    while (queue.length > 0 || (this.credits?.pendingIn(shard) ?? 0) > 0) {
      const client = this.pickClient();
      if (client === null) {
        this.schedule(Math.max(this.breakerMs, this.flushDelayMs));
        return false;
      }
      const batch = queue.take(FLUSH_BATCH);
      const holds = this.credits?.take(FLUSH_BATCH, shard) ?? null;
      const args: (string | number)[] = [0];
      const slots = batch === null ? [] : appendSettlements(args, batch);
      const ledger = this.ledgerPart(args, null, holds);
      const budgetArgs = appendBudgets(args, '', this.calendar, NO_BUDGETS, 0, [], batch);
      appendArgv(args, 0, '', this.windowMs, this.leaseTtlMs, NO_POLICIES, slots, ledger, budgetArgs);
      try {
        this.counters.calls++;
        this.counters.flushCalls++;
        await client.tollgateLimitV1(args);
      } catch (err) {
        if (holds !== null) this.credits!.requeue(holds);
        this.failed(err as Error, batch);
        return false;
      }
    }
    return true;
  }

  /** The credit ledger's KEYS (appended to `args`) and ARGV of one call; empty without a ledger. */
  private ledgerPart(args: (string | number)[], ask: CreditAsk | null, holds: RedisHold[] | null): readonly (string | number)[] {
    return this.credits === null ? NO_LEDGER_ARGS : this.credits.appendToCall(args, ask, holds);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    await this.credits?.flush();
    this.credits?.close();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.owned) await Promise.all(this.clients.map((c) => c.quit().catch(() => c.disconnect())));
    await this.fallback.close();
  }

  /** A ready client, or null while Redis is down or skipped after an error. */
  private pickClient(): ScriptClient | null {
    if (this.skipUntil !== 0 && Date.now() < this.skipUntil) return null;
    const clients = this.clients;
    for (let i = 0; i < clients.length; i++) {
      const c = clients[this.nextClient++ % clients.length];
      if (c.status === 'ready') return c;
    }
    return null;
  }

  private unavailable(req: AdmissionRequest): Admission {
    if (this.failOpen) {
      this.counters.failOpen++;
      const admission = this.fallback.admitSync(req);
      if (!admission.allowed || this.credits === null || !req.credit) return admission;
      // The limits passed on this node alone; the credits follow the ledger's own policy.
      const local = this.credits.holdLocally(req.credit, admission.state);
      if (local.allowed) return { ...admission, hold: local.hold };
      this.fallback.settle(admission.lease, 0);
      return local;
    }
    this.counters.failClosed++;
    return {
      allowed: false,
      scope: 'global',
      subject: '',
      kind: 'unavailable',
      limit: -1,
      retryAfterMs: Math.max(this.breakerMs, 1000),
      state: NO_LIMIT_STATE,
    };
  }

  private failed(err: Error, carried: RedisLease[] | null): void {
    this.counters.errors++;
    if (this.breakerMs > 0) this.skipUntil = Date.now() + this.breakerMs;
    // Whether the lost call ran is unknown: re-sending a TPM correction could
    // apply it twice, so only the idempotent lease releases are retried.
    if (carried !== null) {
      for (const lease of carried) {
        lease.delta = 0;
        if (holdsSlot(lease)) this.enqueue(lease);
      }
    }
    this.report(err);
  }

  private report(err: Error): void {
    this.onError?.(err);
  }

  private enqueue(lease: RedisLease): void {
    if (this.pending[lease.shard].push(lease)) this.counters.droppedSettlements++;
    this.schedule(this.flushDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(this.flushTick, delayMs);
    // Pending releases must not keep a process alive; close() flushes them.
    this.timer.unref();
  }
}
