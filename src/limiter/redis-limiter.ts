// Limiter shared by every gateway instance through Redis: ONE round trip per
// request for all its limits and its credit hold (the ledger's part of the
// script is metering/redis-ledger-script.ts, its state metering/redis-credits.ts),
// and settlements ride along for free.
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
// by deadline, so a crashed node's leases expire). Every key carries the same
// hash tag, so all keys of one request — global, user, key, model — sit in one
// cluster slot, which is what lets one script judge them atomically. The cost:
// on Redis Cluster the whole limiter lives on one shard. A per-user tag would
// spread users but split the global and model limits into a second, non-atomic
// call. Measured (bench/limiter-bench.ts): about 100 us of Redis CPU per
// request with five policies each limiting RPM, TPM and concurrency, so some
// 10,000 such requests/s per Redis node, more with fewer limits; the single
// slot is the better trade until that is the bottleneck.
//
// Failure: a call that errors or times out (`commandTimeoutMs`), or no ready
// connection, applies `failPolicy`: 'open' admits through the in-process
// fallback limiter (each instance then enforces the limits alone), 'closed'
// refuses with kind 'unavailable' (HTTP 503). After an error Redis is skipped
// for `breakerMs` so a hung server costs one timeout per period, not one per
// request; ioredis reconnects in the background and Redis is used again once
// ready.

import type { Redis } from 'ioredis';
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
  type LimitScope,
  type Limiter,
  type LimiterStats,
} from './limiter.ts';
import { MemoryLimiter } from './memory-limiter.ts';
import { firstConnection, openLimiterPool, waitReady } from './redis-connection.ts';
import type { RedisLimiterOptions, RedisLimiterStats } from './redis-limiter-options.ts';
import { holdsSlot, RedisLease } from './redis-lease.ts';
import { LIMITER_LUA } from './redis-script.ts';
import { appendSettlements, SettlementQueue } from './settlement-queue.ts';
import type { RedisCredits, RedisHold } from '../metering/redis-credits.ts';

export type { RedisLimiterOptions, RedisLimiterStats } from './redis-limiter-options.ts';

interface ScriptClient extends Redis {
  tollgateLimitV1(args: (string | number)[]): Promise<number[]>;
}

/** Refusal codes of the credit part (metering/redis-ledger-script.ts). */
const CREDITS = 5;
const LOAD_BALANCE = 6;
/** The ledger part of a call without a ledger: no ask, no settlements. */
const NO_LEDGER_ARGS: readonly (string | number)[] = [0, 0, '', 0, 0, 0];
const SCOPE_CODE: Readonly<Record<LimitScope, string>> = { global: 'g', user: 'u', key: 'k', model: 'm', user_model: 'um' };
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
  private readonly base: string;
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
  private readonly pending: SettlementQueue;
  private timer: NodeJS.Timeout | null;
  private readonly counters: RedisLimiterStats;
  private readonly flushTick: () => void;
  /** Pending until the first connection is ready (bounded by the command timeout); null after. */
  private startup: Promise<boolean> | null;

  constructor(options: RedisLimiterOptions) {
    const r = options.redis;
    this.owned = typeof r === 'string';
    const clients = typeof r === 'string' ? openLimiterPool(r, options.poolSize ?? 1, options) : Array.isArray(r) ? [...r] : [r as Redis];
    if (clients.length === 0) throw new RangeError('RedisLimiter needs at least one client');
    for (const c of clients) {
      if (this.owned) c.on('error', (err: Error) => this.report(err));
      if (typeof (c as Partial<ScriptClient>).tollgateLimitV1 !== 'function') c.defineCommand('tollgateLimitV1', { lua: LIMITER_LUA });
    }
    this.clients = clients as ScriptClient[];
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    if (!Number.isInteger(this.windowMs) || this.windowMs <= 0) throw new RangeError('windowMs must be a positive integer');
    this.fallback = options.fallback ?? new MemoryLimiter({ windowMs: this.windowMs });
    this.base = `${options.keyPrefix ?? 'tollgate:'}{${options.hashTag ?? 'rl'}}:`;
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
    this.pending = new SettlementQueue(options.maxPending ?? 10_000);
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
      if (Date.now() - this.lastCallAt < this.flushDelayMs && this.pending.length + (this.credits?.pendingSettlements ?? 0) <= this.maxPiggyback) {
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
    return { ...this.counters, pendingSettlements: this.pending.length + (this.credits?.pendingSettlements ?? 0) };
  }

  async admit(req: AdmissionRequest, rebuilt = false): Promise<Admission> {
    const policies = req.policies;
    const n = policies.length;
    const tokens = tokenCount(req.tokens);
    const lease = new RedisLease(this.idPrefix + (this.nextId++).toString(36), tokens, policies, new Array<string>(2 * n));
    const ask = this.credits === null ? null : (req.credit ?? null);
    if (n === 0 && ask === null) return { allowed: true, lease, state: new RateLimitState(-1, -1, -1, -1, -1, -1) };
    let client = this.pickClient();
    if (client === null && this.startup !== null) {
      await this.startup;
      client = this.pickClient();
    }
    if (client === null) return this.unavailable(req);

    // Layout: numkeys, KEYS (request, then settlements), ARGV (header, policies, settlements).
    const args: (string | number)[] = [0];
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      const tail = SCOPE_CODE[p.scope] + ':' + p.subject;
      const s = this.base + 's:' + tail;
      const c = this.base + 'c:' + tail;
      lease.keys[2 * i] = s;
      lease.keys[2 * i + 1] = c;
      args.push(s, c);
    }
    const carried = this.pending.take(this.maxPiggyback);
    const slots = carried === null ? null : appendSettlements(args, carried);
    const holds = this.credits?.take(this.maxPiggyback) ?? null;
    const ledger = this.ledgerPart(args, ask, holds);
    args[0] = args.length - 1;
    args.push(n, this.windowMs, tokens, lease.id, this.leaseTtlMs, slots === null ? 0 : slots.length / 4);
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      args.push(p.rpm ?? -1, p.tpm ?? -1, p.concurrency ?? -1);
    }
    if (slots !== null) for (let i = 0; i < slots.length; i++) args.push(slots[i]);
    for (let i = 0; i < ledger.length; i++) args.push(ledger[i]);

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
    if (reply[0] === 1) return ask === null ? { allowed: true, lease, state } : { allowed: true, lease, state, hold: this.credits!.holdFor(ask) };
    if (reply[2] === CREDITS) return creditsRefused(ask!.userId, reply[10], reply[11], state);
    if (reply[2] === LOAD_BALANCE) return this.unavailable(req);
    const p = policies[reply[1] - 1];
    const kind = REFUSAL_KINDS[reply[2] - 1];
    const limit = (kind === 'rpm' ? p.rpm : kind === 'tpm' ? p.tpm : p.concurrency) ?? -1;
    return { allowed: false, scope: p.scope, subject: p.subject, kind, limit, retryAfterMs: reply[3], state };
  }

  settle(lease: Lease, actualTokens: number): void {
    if (!(lease instanceof RedisLease)) {
      this.fallback.settle(lease, actualTokens);
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
    if (lease.delta !== 0 || slot) this.enqueue(lease);
  }

  /** Queues a credit hold's real cost; like a lease settlement, it rides on the next call. */
  settleCredit(hold: RedisHold, costMicros: number): void {
    this.credits?.settle(hold, costMicros);
    this.schedule(this.flushDelayMs);
  }

  /** Sends every queued settlement now. */
  async flush(): Promise<void> {
    while (this.pending.length > 0 || (this.credits?.pendingSettlements ?? 0) > 0) {
      const client = this.pickClient();
      if (client === null) {
        this.schedule(Math.max(this.breakerMs, this.flushDelayMs));
        return;
      }
      const batch = this.pending.take(FLUSH_BATCH);
      const holds = this.credits?.take(FLUSH_BATCH) ?? null;
      const args: (string | number)[] = [0];
      const slots = batch === null ? [] : appendSettlements(args, batch);
      const ledger = this.ledgerPart(args, null, holds);
      args[0] = args.length - 1;
      args.push(0, this.windowMs, 0, '', this.leaseTtlMs, slots.length / 4);
      for (let i = 0; i < slots.length; i++) args.push(slots[i]);
      for (let i = 0; i < ledger.length; i++) args.push(ledger[i]);
      try {
        this.counters.calls++;
        this.counters.flushCalls++;
        await client.tollgateLimitV1(args);
      } catch (err) {
        if (holds !== null) this.credits!.requeue(holds);
        this.failed(err as Error, batch);
        return;
      }
    }
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
    if (this.pending.push(lease)) this.counters.droppedSettlements++;
    this.schedule(this.flushDelayMs);
  }

  private schedule(delayMs: number): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(this.flushTick, delayMs);
    // Pending releases must not keep a process alive; close() flushes them.
    this.timer.unref();
  }
}
