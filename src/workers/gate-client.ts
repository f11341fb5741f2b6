/**
 * A worker's side of the admission gate and the usage queue: every admit,
 * settle and record of one event-loop turn goes to the main thread as one
 * `ops` message (owner-protocol.ts), which holds the only limiter, ledger and
 * writer. Batching per turn, not per call: under load a turn carries dozens of
 * operations, and a message costs the same few microseconds of cloning and
 * waking the other thread whatever it carries (bench/gate-roundtrip.ts).
 *
 * With REDIS_URL the worker judges the limits, budgets and credit hold itself
 * on Redis (one script call, as a single process does); only its usage
 * records go to the main thread.
 */
import { NO_LIMIT_STATE, type Admission, type AdmissionRequest, type Lease, type Limiter, type LimiterStats, type RateLimitState } from '../limiter/limiter.ts';
import { LocalGrant, type AdmissionGate, type GateRequest, type GateVerdict, type Grant, type LocalGate } from '../gateway/admission-gate.ts';
import type { UsageQueue } from '../gateway/gateway.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { BalanceSnapshot } from '../metering/ledger.ts';
import type { Op, WireVerdict } from './owner-protocol.ts';
import type { BudgetPolicy, BudgetUsage } from '../limiter/budget.ts';

/** A grant held by the main thread, named by the admission's id. */
class RemoteGrant implements Grant {
  readonly id: number;
  readonly reservedMicros: number | null;
  settled = false;

  constructor(id: number, reservedMicros: number | null) {
    this.id = id;
    this.reservedMicros = reservedMicros;
  }
}

export class OwnerGateClient implements AdmissionGate, UsageQueue {
  readonly #post: (ops: Op[]) => void;
  readonly #balance: (userId: number, load: boolean) => Promise<BalanceSnapshot | null>;
  /** The worker's own gate over Redis; null: the main thread judges everything. */
  readonly #local: LocalGate | null;
  readonly #waiting = new Map<number, (v: WireVerdict) => void>();
  #ops: Op[] = [];
  #scheduled = false;
  #nextId = 1;

  constructor(post: (ops: Op[]) => void, balance: (userId: number, load: boolean) => Promise<BalanceSnapshot | null>, local: LocalGate | null) {
    this.#post = post;
    this.#balance = balance;
    this.#local = local;
  }

  admit(req: GateRequest): GateVerdict | Promise<GateVerdict> {
    if (this.#local !== null) return this.#local.admit(req);
    const id = this.#nextId++;
    this.#push({ op: 'admit', id, req });
    return new Promise<WireVerdict>((resolve) => this.#waiting.set(id, resolve)).then((v): GateVerdict => {
      if (v.kind === 'admitted') return { kind: 'admitted', grant: new RemoteGrant(id, v.reservedMicros), state: v.state };
      return v;
    });
  }

  /** The main thread's answers to this worker's admissions. */
  receive(verdicts: readonly [number, WireVerdict][]): void {
    for (const [id, v] of verdicts) {
      const resolve = this.#waiting.get(id);
      if (resolve === undefined) continue;
      this.#waiting.delete(id);
      resolve(v);
    }
  }

  settle(grant: Grant, actualTokens: number, costMicros: number): void {
    if (grant instanceof LocalGrant) {
      this.#local!.settle(grant, actualTokens, costMicros);
      return;
    }
    const g = grant as RemoteGrant;
    if (g.settled) return;
    g.settled = true;
    this.#push({ op: 'settle', id: g.id, tokens: actualTokens, costMicros });
  }

  enqueue(record: UsageRecordInsert): void {
    this.#push({ op: 'record', record });
  }

  balance(userId: number, load: boolean): Promise<BalanceSnapshot | null> {
    return this.#balance(userId, load);
  }

  #push(op: Op): void {
    this.#ops.push(op);
    if (this.#scheduled) return;
    this.#scheduled = true;
    // One message per event-loop turn: everything the I/O callbacks of this turn produced.
    setImmediate(() => this.flush());
  }

  /** Sends the batched operations now (shutdown calls it after the last request finished). */
  flush(): void {
    this.#scheduled = false;
    if (this.#ops.length === 0) return;
    const ops = this.#ops;
    this.#ops = [];
    this.#post(ops);
  }
}

/**
 * The `Limiter` the service routes use in a worker: their per-caller limits
 * judged by the main thread's limiter through the same gate (no credits).
 */
export class GateLimiter implements Limiter {
  readonly kind = 'memory';
  readonly #gate: OwnerGateClient;
  readonly #budgetUsage: (budgets: readonly BudgetPolicy[]) => Promise<BudgetUsage[]>;

  constructor(gate: OwnerGateClient, budgetUsage: (budgets: readonly BudgetPolicy[]) => Promise<BudgetUsage[]>) {
    this.#gate = gate;
    this.#budgetUsage = budgetUsage;
  }

  ready(): Promise<boolean> {
    return Promise.resolve(true);
  }

  isAvailable(): boolean {
    return true;
  }

  stats(): LimiterStats {
    return { pendingSettlements: 0 };
  }

  async admit(req: AdmissionRequest): Promise<Admission> {
    const v = await this.#gate.admit({ userId: 0, policies: req.policies, tokens: req.tokens, credit: null });
    if (v.kind === 'limited') return v.refused;
    if (v.kind !== 'admitted') throw new Error(`gate answered ${v.kind} to an admission without credits`);
    return { allowed: true, lease: new GateLease(v.grant, req.tokens), state: v.state ?? NO_LIMIT_STATE };
  }

  settle(lease: Lease, actualTokens: number): void {
    const l = lease as GateLease;
    if (l.settled) return;
    l.settled = true;
    this.#gate.settle(l.grant, actualTokens, 0);
  }

  /** Budgets are judged (and counted) by the main thread's limiter. */
  budgetUsage(budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]> {
    return this.#budgetUsage(budgets);
  }

  async close(): Promise<void> {
    this.#gate.flush();
  }
}

class GateLease implements Lease {
  readonly grant: Grant;
  readonly tokens: number;
  settled = false;

  constructor(grant: Grant, tokens: number) {
    this.grant = grant;
    this.tokens = tokens;
  }
}
