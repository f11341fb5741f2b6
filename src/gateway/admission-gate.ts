/**
 * The admission gate: the one place that decides whether a request may go out
 * (every rate limit in one judgment, then the credit hold) and that settles
 * it afterwards. The hot path makes exactly two calls on it per request,
 * `admit` and `settle`; whoever owns the limiter and the ledger answers them:
 *
 *   single process ── LocalGate (this file): the limiter that judges limits, budgets and
 *                     the credit ask together (LedgerLimiter in memory, RedisLimiter with
 *                     the Redis ledger), and the CreditGate that loads and settles credits
 *   --workers N    ── OwnerGateClient (src/workers/gate-client.ts) in each worker, one message
 *                     per call to the main thread, whose LocalGate answers it
 *
 * Keeping the contract this narrow is what lets spend budgets and a ledger
 * held in Redis live in one place (LocalGate) for every deployment shape.
 */
import type { Admission, AdmissionRequest, CreditHold, Lease, Limiter, RateLimitState, Refused } from '../limiter/limiter.ts';
import type { BalanceSnapshot } from '../metering/ledger.ts';
import type { CreditGate } from '../metering/credit-gate.ts';

/**
 * One request to admit: what the limiter judges in one step — its limits,
 * token estimate, spend budgets with the micro-credits they hold, and the
 * credit ask (`credit`, null for a free request).
 */
export interface GateRequest extends AdmissionRequest {
  userId: number;
}

/** Proof of an admission, settled exactly once through the gate that gave it. */
export interface Grant {
  /** Micro-credits held by the admission; null when none were (free request). */
  readonly reservedMicros: number | null;
}

/** Outcomes of `admit`: a closed union, so a new refusal kind is a compile error where it is not handled. */
export type GateVerdict =
  | { readonly kind: 'admitted'; readonly grant: Grant; readonly state: RateLimitState | null }
  | { readonly kind: 'limited'; readonly refused: Refused }
  /** Not enough credits; `held` is the user's balance for the 402 message. */
  | { readonly kind: 'no_credits'; readonly held: BalanceSnapshot | null; readonly state: RateLimitState | null }
  /** The user's balance could not be read from the store. */
  | { readonly kind: 'store_unavailable'; readonly message: string; readonly state: RateLimitState | null };

/** Decides and settles admissions; see the module comment. */
export interface AdmissionGate {
  /**
   * Judges the limits, budgets and credits, all or nothing. May answer
   * synchronously (in-process owner, balance loaded) to spare the hot path a
   * promise; the caller awaits only when a promise comes back.
   */
  admit(req: GateRequest): GateVerdict | Promise<GateVerdict>;
  /** Ends an admission: real tokens to the TPM windows, real cost to the balance and budgets. Later calls are ignored. */
  settle(grant: Grant, actualTokens: number, costMicros: number): void;
  /** The user's live balance, loading it first when `load` is set; null when not loaded (and not asked to). */
  balance(userId: number, load: boolean): Promise<BalanceSnapshot | null>;
}

/** A grant of the in-process gate: the limiter's lease and the credit hold. */
export class LocalGrant implements Grant {
  readonly lease: Lease | null;
  readonly hold: CreditHold | null;
  readonly reservedMicros: number | null;

  constructor(lease: Lease | null, hold: CreditHold | null) {
    this.lease = lease;
    this.hold = hold;
    this.reservedMicros = hold === null ? null : hold.micros;
  }
}

/** The gate of the process that owns the limiter and the credits. */
export class LocalGate implements AdmissionGate {
  readonly limiter: Limiter;
  readonly credits: CreditGate;

  constructor(limiter: Limiter, credits: CreditGate) {
    this.limiter = limiter;
    this.credits = credits;
  }

  admit(req: GateRequest): GateVerdict | Promise<GateVerdict> {
    // A balance this node's ledger judges must be loaded first (one node, or Redis down under 'local').
    const loading = req.credit ? this.credits.prepare(req.userId) : null;
    if (loading === null) return this.#judge(req);
    return loading.then(
      () => this.#judge(req),
      (err: unknown): GateVerdict => ({ kind: 'store_unavailable', message: err instanceof Error ? err.message : String(err), state: null }),
    );
  }

  #judge(req: GateRequest): GateVerdict | Promise<GateVerdict> {
    if (req.policies.length === 0 && (req.budgets === undefined || req.budgets.length === 0) && !req.credit) {
      return { kind: 'admitted', grant: new LocalGrant(null, null), state: null };
    }
    const limiter = this.limiter;
    if (limiter.admitSync === undefined) return limiter.admit(req).then(verdictOf);
    return verdictOf(limiter.admitSync(req));
  }

  settle(grant: Grant, actualTokens: number, costMicros: number): void {
    const g = grant as LocalGrant;
    if (g.hold !== null) this.credits.settle(g.hold, costMicros);
    if (g.lease !== null) this.limiter.settle(g.lease, actualTokens, costMicros);
  }

  balance(userId: number, load: boolean): Promise<BalanceSnapshot | null> {
    return load ? this.credits.snapshot(userId) : this.credits.peek(userId);
  }
}

/** The gate's verdict on the limiter's one judgment of limits, budgets and credits. */
export function verdictOf(a: Admission): GateVerdict {
  if (a.allowed) return { kind: 'admitted', grant: new LocalGrant(a.lease, a.hold ?? null), state: a.state };
  if (a.kind === 'credits') return { kind: 'no_credits', held: a.credit ?? null, state: a.state };
  return { kind: 'limited', refused: a };
}
