// Limiter shared by every gateway instance through Redis: ONE round trip per
// request for all its limits, and settlements ride along for free.
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
// by deadline, so a crashed node's leases expire). All keys of one request —
// global, user, key, model — carry one hash tag, so they sit in one cluster
// slot, which is what lets one script judge them atomically. With one shard
// (one Redis server) that tag is `{rl}` for every request; on a Redis Cluster
// the keys are split into shards by user (redis-shards.ts), so users spread
// over the masters while each admission stays one call to one slot.
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
  type Admission,
  type AdmissionRequest,
  type Lease,
  type LimitScope,
  type Limiter,
  type LimiterStats,
} from './limiter.ts';
import type { BudgetPolicy, BudgetUsage } from './budget.ts';
import { BudgetCalendar } from './budget-calendar.ts';
import { MemoryLimiter } from './memory-limiter.ts';
import { appendBudgets, budgetHold, budgetRefusal, readBudgetUsage } from './redis-budget.ts';
import { firstConnection, openLimiterPool, waitReady, type LimiterConnectionOptions } from './redis-connection.ts';
import { holdsSlot, RedisLease } from './redis-lease.ts';
import { LIMITER_LUA } from './redis-script.ts';
import type { RedisClient } from '../sync/redis-client.ts';
import { appendSettlements, SettlementQueue } from './settlement-queue.ts';
import { ShardMap } from './redis-shards.ts';

/** Options of {@link RedisLimiter}. */
export interface RedisLimiterOptions extends LimiterConnectionOptions {
  /** A URL (the limiter opens and owns `poolSize` clients) or your clients, made with `limiterRedisOptions()`. */
  redis: string | RedisClient | readonly RedisClient[];
  /** Connections opened for a URL, used round-robin (default 1: ioredis pipelines). */
  poolSize?: number;
  /** Key prefix (default 'tollgate:'). */
  keyPrefix?: string;
  /** Hash tag shared by all limiter keys (default 'rl'); with shards, the base of each shard's tag. */
  hashTag?: string;
  /** Shards the keys are split into by user (default 1: one slot; see redis-shards.ts). */
  shards?: number;
  /** RPM/TPM window in ms (default 60,000); must match the fallback's. */
  windowMs?: number;
  /** IANA time zone of calendar budget periods (default UTC); must match the fallback's. */
  timeZone?: string;
  /** Lifetime of a concurrency lease whose node never settles it (default 600,000; longer than any request). */
  leaseTtlMs?: number;
  /** What to do when Redis fails (default 'open'). */
  failPolicy?: 'open' | 'closed';
  /** Limiter used when failing open (default: a new MemoryLimiter with the same window). */
  fallback?: MemoryLimiter;
  /** After a Redis error, skip Redis this long (default 1,000 ms; 0 = retry at once). */
  breakerMs?: number;
  /** Idle delay before queued settlements are flushed on their own (default 5 ms). */
  flushDelayMs?: number;
  /** Settlements carried by one admission call (default 32). */
  maxPiggyback?: number;
  /** Queued settlements kept while Redis is down; the oldest are dropped beyond (default 10,000). */
  maxPending?: number;
  /**
   * Called on every failed call and connection error: count and log it here.
   * The breaker bounds the rate: the calls in flight when Redis fails, then
   * one probe per `breakerMs`, plus one per reconnect attempt.
   */
  onError?: (err: Error) => void;
}

/** Counters for metrics. */
export interface RedisLimiterStats extends LimiterStats {
  /** Script calls sent (admissions plus settle-only flushes). */
  calls: number;
  /** Settle-only flush calls among them. */
  flushCalls: number;
  /** Redis call failures (errors and timeouts). */
  errors: number;
  /** Admissions decided by the fallback because Redis was unavailable. */
  failOpen: number;
  /** Admissions refused as 'unavailable' (fail closed). */
  failClosed: number;
  /** Settlements dropped because the queue overflowed while Redis was down. */
  droppedSettlements: number;
}

type ScriptClient = RedisClient & {
  tollgateLimitV1(args: (string | number)[]): Promise<number[]>;
};

const SCOPE_CODE: Readonly<Record<LimitScope, string>> = { global: 'g', user: 'u', key: 'k', model: 'm', user_model: 'um' };
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
    this.shards = new ShardMap(options.keyPrefix ?? 'tollgate:', options.hashTag ?? 'rl', options.shards ?? 1);
    this.leaseTtlMs = options.leaseTtlMs ?? 600_000;
    this.failOpen = (options.failPolicy ?? 'open') === 'open';
    this.breakerMs = options.breakerMs ?? 1000;
    this.flushDelayMs = options.flushDelayMs ?? 5;
    this.maxPiggyback = options.maxPiggyback ?? 32;
    this.onError = options.onError;
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
      if (Date.now() - this.lastCallAt < this.flushDelayMs && this.pending.every((q) => q.length <= this.maxPiggyback)) {
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
    let pendingSettlements = 0;
    for (const queue of this.pending) pendingSettlements += queue.length;
    return { ...this.counters, pendingSettlements };
  }

  async admit(req: AdmissionRequest): Promise<Admission> {
    const shard = this.shards.shardOf(req.userId);
    const policies = this.shards.policiesOf(req.policies, shard);
    const n = policies.length;
    const tokens = tokenCount(req.tokens);
    const lease = new RedisLease(this.idPrefix + (this.nextId++).toString(36), tokens, policies, new Array<string>(2 * n), shard);
    const budgets = req.budgets ?? NO_BUDGETS;
    const micros = req.micros ?? 0;
    if (n === 0 && budgets.length === 0) return { allowed: true, lease, state: new RateLimitState(-1, -1, -1, -1, -1, -1) };
    let client = this.pickClient();
    if (client === null && this.startup !== null) {
      await this.startup;
      client = this.pickClient();
    }
    if (client === null) return this.unavailable(req);

    // Layout: numkeys, KEYS (request, then settlements), ARGV (header, policies, settlements).
    const args: (string | number)[] = [0];
    const base = this.shards.bases[shard];
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      const tail = SCOPE_CODE[p.scope] + ':' + p.subject;
      const s = base + 's:' + tail;
      const c = base + 'c:' + tail;
      lease.keys[2 * i] = s;
      lease.keys[2 * i + 1] = c;
      args.push(s, c);
    }
    const carried = this.pending[shard].take(this.maxPiggyback);
    const slots = carried === null ? null : appendSettlements(args, carried);
    const budgetKeys = new Array<string>(budgets.length);
    const budgetArgs = appendBudgets(args, base, this.calendar, budgets, micros, budgetKeys, carried);
    args[0] = args.length - 1;
    args.push(n, this.windowMs, tokens, lease.id, this.leaseTtlMs, slots === null ? 0 : slots.length / 4);
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      args.push(p.rpm ?? -1, p.tpm ?? -1, p.concurrency ?? -1);
    }
    if (slots !== null) for (let i = 0; i < slots.length; i++) args.push(slots[i]);
    for (let i = 0; i < budgetArgs.length; i++) args.push(budgetArgs[i]);

    let reply: number[];
    try {
      this.counters.calls++;
      this.lastCallAt = Date.now();
      reply = await client.tollgateLimitV1(args);
    } catch (err) {
      this.failed(err as Error, carried);
      // The script may have run before the reply was lost: release its lease
      // (idempotent) so a phantom slot does not block until the lease TTL.
      if (holdsSlot(lease)) this.enqueue(lease);
      return this.unavailable(req);
    }
    const state = new RateLimitState(reply[4], reply[5], reply[6], reply[7], reply[8], reply[9]);
    if (reply[0] === 1) {
      if (budgets.length > 0) lease.budget = budgetHold(budgets, budgetKeys, micros, reply[10]);
      return { allowed: true, lease, state };
    }
    if (reply[11] > 0) {
      const b = budgets[reply[11] - 1];
      return { allowed: false, scope: b.scope, subject: b.subject, kind: 'budget', limit: b.limitMicros, retryAfterMs: reply[12], state, budget: budgetRefusal(b, micros, reply, this.calendar) };
    }
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

  /** Sends every queued settlement now: one call per shard with settlements (per batch). */
  async flush(): Promise<void> {
    for (const queue of this.pending) {
      if (!(await this.flushQueue(queue))) return;
    }
  }

  /** Sends one shard's settlements; false when Redis is unusable (a retry is scheduled). */
  private async flushQueue(queue: SettlementQueue): Promise<boolean> {
    while (queue.length > 0) {
      const client = this.pickClient();
      if (client === null) {
        this.schedule(Math.max(this.breakerMs, this.flushDelayMs));
        return false;
      }
      const batch = queue.take(FLUSH_BATCH);
      if (batch === null) return true;
      const args: (string | number)[] = [0];
      const slots = appendSettlements(args, batch);
      const budgetArgs = appendBudgets(args, '', this.calendar, NO_BUDGETS, 0, [], batch);
      args[0] = args.length - 1;
      args.push(0, this.windowMs, 0, '', this.leaseTtlMs, slots.length / 4);
      for (let i = 0; i < slots.length; i++) args.push(slots[i]);
      for (let i = 0; i < budgetArgs.length; i++) args.push(budgetArgs[i]);
      try {
        this.counters.calls++;
        this.counters.flushCalls++;
        await client.tollgateLimitV1(args);
      } catch (err) {
        this.failed(err as Error, batch);
        return false;
      }
    }
    return true;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
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
      return this.fallback.admitSync(req);
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
