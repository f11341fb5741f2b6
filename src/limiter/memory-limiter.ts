// In-process limiter, the default backend (and the Redis backend's fail-open
// fallback).
//
// Exactness: JavaScript runs one admission at a time, so checking every
// policy and then consuming from every policy inside one synchronous call is
// atomic without a lock, and unrelated keys never wait on each other.
// Cost: O(policies) per admission; each (scope, subject) keeps one Entry of a
// few numbers (integer GCRA, see bucket-math.ts), never a list of timestamps.
// Memory: entries are swept a few per admission once idle (unused for a
// window, buckets drained, nothing in flight: evicting those loses nothing),
// and a hard cap evicts the oldest entries beyond `maxEntries`, preferring
// idle ones. Measured (bench/limiter-bench.ts, Node 24, x64): 141 bytes of
// heap per entry plus its subject string (about 32 bytes for 12 characters),
// so the default cap of 100,000 bounds the tables to about 18 MB.

import { drainedLevel, remainingUnits, resetMs, retryAfterMs } from './bucket-math.ts';
import type { BudgetPolicy, BudgetUsage } from './budget.ts';
import { BudgetCalendar } from './budget-calendar.ts';
import { BudgetTallies, type BudgetHold } from './budget-tally.ts';
import { Entry, isIdle, scopeIndex } from './memory-entry.ts';
import {
  CONCURRENCY_RETRY_MS,
  DEFAULT_WINDOW_MS,
  LIMIT_SCOPES,
  RateLimitState,
  type Admission,
  type AdmissionRequest,
  type Lease,
  type LimitPolicy,
  type Limiter,
  type LimiterStats,
  type RefusalKind,
} from './limiter.ts';

/** Options of {@link MemoryLimiter}. */
export interface MemoryLimiterOptions {
  /** Window of the RPM and TPM limits in ms (default 60,000). */
  windowMs?: number;
  /** Hard cap on tracked (scope, subject) entries (default 100,000). */
  maxEntries?: number;
  /** Clock in integer ms (default Date.now); tests inject their own. */
  now?: () => number;
  /** IANA time zone of calendar budget periods (default UTC). */
  timeZone?: string;
}

/** Counters for metrics. */
export interface MemoryLimiterStats extends LimiterStats {
  entries: number;
  /** Idle entries dropped by the sweep (lossless). */
  idleEvictions: number;
  /** Busy entries dropped at the hard cap (their limits restart from empty). */
  forcedEvictions: number;
}

// A lease records which entries took a TPM reservation in a bit mask.
const MAX_POLICIES = 30;
// Entries looked at per admission by the idle sweep: more than one so the
// sweep outruns a flood that creates one new entry per admission.
const SWEEP_STEPS = 2;
// Entries looked at to find an eviction victim when the table is full.
const EVICTION_SCAN = 16;

/** Lease of the memory backend. */
export class MemoryLease implements Lease {
  settled: boolean;
  readonly tokens: number;
  readonly entries: Entry[];
  /** Bit i set: entries[i] holds a TPM reservation of `tokens`. */
  readonly tpmMask: number;
  /** Micro-credits held against budgets; null when none applied. */
  readonly budget: BudgetHold | null;

  constructor(tokens: number, entries: Entry[], tpmMask: number, budget: BudgetHold | null) {
    this.settled = false;
    this.tokens = tokens;
    this.entries = entries;
    this.tpmMask = tpmMask;
    this.budget = budget;
  }
}

function tokenCount(tokens: number): number {
  return tokens > 0 ? Math.ceil(tokens) : 0;
}

/** The in-memory {@link Limiter}. */
export class MemoryLimiter implements Limiter {
  readonly kind = 'memory';
  readonly windowMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
  private readonly maps: Map<string, Entry>[];
  private readonly budgets: BudgetTallies;
  private size: number;
  private seq: number;
  private idleEvictions: number;
  private forcedEvictions: number;
  /** Entries of the admission in progress; reused because admissions never interleave. */
  private readonly picked: Entry[];
  private cursorScope: number;
  private cursor: MapIterator<Entry>;

  constructor(options: MemoryLimiterOptions = {}) {
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.windowMs) || this.windowMs <= 0) throw new RangeError('windowMs must be a positive integer');
    if (!(this.maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.maps = LIMIT_SCOPES.map(() => new Map<string, Entry>());
    this.budgets = new BudgetTallies(new BudgetCalendar(options.timeZone ?? 'UTC'));
    this.size = 0;
    this.seq = 0;
    this.idleEvictions = 0;
    this.forcedEvictions = 0;
    this.picked = [];
    this.cursorScope = 0;
    this.cursor = this.maps[0].values();
  }

  /** Always true at once: there is nothing to connect to. */
  ready(_timeoutMs?: number): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** Always true: no store can fail. */
  isAvailable(): boolean {
    return true;
  }

  /** Current counters; settlements apply at once, so none are ever pending. */
  stats(): MemoryLimiterStats {
    return { entries: this.size, idleEvictions: this.idleEvictions, forcedEvictions: this.forcedEvictions, pendingSettlements: 0 };
  }

  admit(req: AdmissionRequest): Promise<Admission> {
    try {
      return Promise.resolve(this.admitSync(req));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Judges and consumes synchronously: check every policy, then charge every policy. */
  admitSync(req: AdmissionRequest): Admission {
    const policies = req.policies;
    const n = policies.length;
    if (n > MAX_POLICIES) throw new RangeError(`at most ${MAX_POLICIES} policies per admission`);
    const now = this.now();
    const w = this.windowMs;
    const cost = tokenCount(req.tokens);
    const seq = ++this.seq;
    const picked = this.picked;
    let refused = -1;
    let kind: RefusalKind = 'rpm';
    let retry = 0;

    // Phase 1: drain and check; nothing is charged yet.
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      const e = this.entryFor(p, seq, now);
      picked[i] = e;
      if (p.rpm !== null) {
        if (now > e.rAt) {
          e.rLevel = drainedLevel(e.rLevel, e.rAt, now, p.rpm);
          e.rAt = now;
        }
        const r = retryAfterMs(e.rLevel, 1, p.rpm, w);
        if (r > retry) {
          retry = r;
          refused = i;
          kind = 'rpm';
        }
      }
      if (p.tpm !== null) {
        if (now > e.tAt) {
          e.tLevel = drainedLevel(e.tLevel, e.tAt, now, p.tpm);
          e.tAt = now;
        }
        const r = retryAfterMs(e.tLevel, cost, p.tpm, w);
        if (r > retry) {
          retry = r;
          refused = i;
          kind = 'tpm';
        }
      }
      if (p.concurrency !== null && e.inflight >= p.concurrency && CONCURRENCY_RETRY_MS > retry) {
        retry = CONCURRENCY_RETRY_MS;
        refused = i;
        kind = 'concurrency';
      }
    }

    // Budgets last: a request refused by one is refused for longer than by any rate.
    const budgets = req.budgets;
    const micros = req.micros ?? 0;
    const nb = budgets === undefined ? 0 : budgets.length;
    const overBudget = nb === 0 ? -1 : this.budgets.judge(budgets!, micros, now);
    if (overBudget >= 0) {
      const b = budgets![overBudget];
      const budget = this.budgets.refusal(b, overBudget, micros, now);
      this.sweep(now);
      const state = this.stateOf(policies, n);
      return { allowed: false, scope: b.scope, subject: b.subject, kind: 'budget', limit: b.limitMicros, retryAfterMs: Math.max(0, budget.resetAtMs - now), state, budget };
    }
    if (refused >= 0) {
      const state = this.stateOf(policies, n);
      this.sweep(now);
      const p = policies[refused];
      const limit = (kind === 'rpm' ? p.rpm : kind === 'tpm' ? p.tpm : p.concurrency) ?? -1;
      return { allowed: false, scope: p.scope, subject: p.subject, kind, limit, retryAfterMs: retry, state };
    }

    // Phase 2: every policy agreed; charge them all.
    const entries = new Array<Entry>(n);
    let tpmMask = 0;
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      const e = picked[i];
      if (p.rpm !== null) {
        e.rLevel += w;
        e.rpm = p.rpm;
      }
      if (p.tpm !== null) {
        e.tLevel += cost * w;
        e.tpm = p.tpm;
        tpmMask |= 1 << i;
      }
      e.inflight++;
      entries[i] = e;
    }
    const state = this.stateOf(policies, n);
    this.sweep(now);
    const hold = nb === 0 ? null : this.budgets.charge(nb, micros);
    return { allowed: true, lease: new MemoryLease(cost, entries, tpmMask, hold), state };
  }

  settle(lease: Lease, actualTokens: number, actualMicros = 0): void {
    if (!(lease instanceof MemoryLease) || lease.settled) return;
    lease.settled = true;
    if (lease.budget !== null) this.budgets.settle(lease.budget, actualMicros);
    const entries = lease.entries;
    const delta = tokenCount(actualTokens) - lease.tokens;
    const now = this.now();
    const w = this.windowMs;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      e.inflight--;
      // A refund drains from the level as it is now: had the smaller charge
      // been made at admission, the bucket would hold exactly this much less
      // (or be empty), because draining is linear.
      if (delta !== 0 && (lease.tpmMask & (1 << i)) !== 0 && e.tpm > 0) {
        const level = (now > e.tAt ? drainedLevel(e.tLevel, e.tAt, now, e.tpm) : e.tLevel) + delta * w;
        e.tLevel = level > 0 ? level : 0;
        if (now > e.tAt) e.tAt = now;
      }
    }
  }

  budgetUsage(budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]> {
    const now = this.now();
    return Promise.resolve(budgets.map((b) => this.budgets.usage(b, now)));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Headers come from the tightest (least remaining) RPM and TPM policy. */
  private stateOf(policies: readonly LimitPolicy[], n: number): RateLimitState {
    const w = this.windowMs;
    const picked = this.picked;
    let rLimit = -1;
    let rLeft = -1;
    let rReset = -1;
    let tLimit = -1;
    let tLeft = -1;
    let tReset = -1;
    for (let i = 0; i < n; i++) {
      const p = policies[i];
      const e = picked[i];
      if (p.rpm !== null) {
        const left = remainingUnits(e.rLevel, p.rpm, w);
        if (rLimit < 0 || left < rLeft) {
          rLimit = p.rpm;
          rLeft = left;
          rReset = resetMs(e.rLevel, p.rpm);
        }
      }
      if (p.tpm !== null) {
        const left = remainingUnits(e.tLevel, p.tpm, w);
        if (tLimit < 0 || left < tLeft) {
          tLimit = p.tpm;
          tLeft = left;
          tReset = resetMs(e.tLevel, p.tpm);
        }
      }
    }
    return new RateLimitState(rLimit, rLeft, rReset, tLimit, tLeft, tReset);
  }

  private entryFor(p: LimitPolicy, seq: number, now: number): Entry {
    const scope = scopeIndex(p.scope);
    const map = this.maps[scope];
    let e = map.get(p.subject);
    if (e === undefined) {
      if (this.size >= this.maxEntries) this.evictOne(seq, now);
      e = new Entry(scope, p.subject);
      map.set(p.subject, e);
      this.size++;
    }
    e.stamp = seq;
    e.seen = now;
    return e;
  }

  /** Next entry under the sweep cursor; undefined when it moves to the next scope's table. */
  private advance(): Entry | undefined {
    const r = this.cursor.next();
    if (r.done !== true) return r.value;
    this.cursorScope = (this.cursorScope + 1) % this.maps.length;
    this.cursor = this.maps[this.cursorScope].values();
    return undefined;
  }

  private remove(e: Entry): void {
    this.maps[e.scope].delete(e.subject);
    this.size--;
  }

  private sweep(now: number): void {
    for (let i = 0; i < SWEEP_STEPS && this.size > 0; i++) {
      const e = this.advance();
      if (e !== undefined && e.stamp !== this.seq && isIdle(e, now, this.windowMs)) {
        this.remove(e);
        this.idleEvictions++;
      }
    }
  }

  /** Makes room for one entry: an idle one if the scan finds it, else the first without requests in flight. */
  private evictOne(seq: number, now: number): void {
    let free: Entry | undefined;
    let busy: Entry | undefined;
    for (let i = 0; i < EVICTION_SCAN + this.maps.length; i++) {
      const e = this.advance();
      if (e === undefined || e.stamp === seq) continue;
      if (isIdle(e, now, this.windowMs)) {
        this.remove(e);
        this.idleEvictions++;
        return;
      }
      if (e.inflight === 0) free ??= e;
      else busy ??= e;
    }
    const victim = free ?? busy;
    if (victim !== undefined) {
      this.remove(victim);
      this.forcedEvictions++;
    }
  }
}
