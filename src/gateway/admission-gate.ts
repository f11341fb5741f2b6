/**
 * The admission gate: the one place that decides whether a request may go out
 * (every rate limit in one judgment, then the credit hold) and that settles
 * it afterwards. The hot path makes exactly two calls on it per request,
 * `admit` and `settle`; whoever owns the limiter and the ledger answers them:
 *
 *   single process ── LocalGate (this file): MemoryLimiter/RedisLimiter + CreditLedger, in place
 *   --workers N    ── OwnerGateClient (src/workers/gate-client.ts) in each worker, one message
 *                     per call to the main thread, whose LocalGate answers it
 *
 * Keeping the contract this narrow is what lets a spend budget or a ledger
 * held in Redis be added in one place (LocalGate) for every deployment shape.
 */
import type { AdmissionRequest, Lease, Limiter, RateLimitState, Refused } from '../limiter/limiter.ts';
import type { BalanceSnapshot, CreditLedger, Reservation } from '../metering/ledger.ts';

/**
 * One request to admit: what the limiter judges (its limits, token estimate,
 * spend budgets with the micro-credits they hold) and the credits to hold.
 */
export interface GateRequest extends AdmissionRequest {
  userId: number;
  /** Micro-credits to hold; null for a free request (the ledger is not asked). */
  creditMicros: number | null;
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
   * Judges the limits and holds the credits, all or nothing. May answer
   * synchronously (in-process owner, balance loaded) to spare the hot path a
   * promise; the caller awaits only when a promise comes back.
   */
  admit(req: GateRequest): GateVerdict | Promise<GateVerdict>;
  /** Ends an admission: real tokens to the TPM windows, real cost to the balance. Later calls are ignored. */
  settle(grant: Grant, actualTokens: number, costMicros: number): void;
  /** The user's live balance, loading it first when `load` is set; null when not loaded (and not asked to). */
  balance(userId: number, load: boolean): Promise<BalanceSnapshot | null>;
}

/** A grant of the in-process gate: the limiter's lease and the ledger's reservation. */
export class LocalGrant implements Grant {
  readonly lease: Lease | null;
  readonly reservation: Reservation | null;
  readonly reservedMicros: number | null;

  constructor(lease: Lease | null, reservation: Reservation | null) {
    this.lease = lease;
    this.reservation = reservation;
    this.reservedMicros = reservation === null ? null : reservation.micros;
  }
}

/** The gate of the process that owns the limiter and the ledger. */
export class LocalGate implements AdmissionGate {
  readonly limiter: Limiter;
  readonly ledger: CreditLedger;

  constructor(limiter: Limiter, ledger: CreditLedger) {
    this.limiter = limiter;
    this.ledger = ledger;
  }

  admit(req: GateRequest): GateVerdict | Promise<GateVerdict> {
    const limiter = this.limiter;
    if (req.policies.length === 0 && (req.budgets === undefined || req.budgets.length === 0)) return this.#hold(req, null, null);
    if (limiter.admitSync === undefined) return limiter.admit(req).then((a) => (a.allowed ? this.#hold(req, a.lease, a.state) : { kind: 'limited', refused: a }));
    const a = limiter.admitSync(req);
    return a.allowed ? this.#hold(req, a.lease, a.state) : { kind: 'limited', refused: a };
  }

  /** The credit half of an admission, after the limits allowed it; undoes the lease on a refusal. */
  #hold(req: GateRequest, lease: Lease | null, state: RateLimitState | null): GateVerdict | Promise<GateVerdict> {
    if (req.creditMicros === null) return { kind: 'admitted', grant: new LocalGrant(lease, null), state };
    if (this.ledger.isLoaded(req.userId)) return this.#reserve(req, req.creditMicros, lease, state);
    const micros = req.creditMicros;
    return this.ledger.ensureLoaded(req.userId).then(
      () => this.#reserve(req, micros, lease, state),
      (err: unknown) => {
        if (lease !== null) this.limiter.settle(lease, 0);
        return { kind: 'store_unavailable', message: err instanceof Error ? err.message : String(err), state };
      },
    );
  }

  #reserve(req: GateRequest, micros: number, lease: Lease | null, state: RateLimitState | null): GateVerdict {
    const reservation = this.ledger.reserve(req.userId, micros);
    if (reservation !== null) return { kind: 'admitted', grant: new LocalGrant(lease, reservation), state };
    if (lease !== null) this.limiter.settle(lease, 0);
    return { kind: 'no_credits', held: this.ledger.snapshot(req.userId), state };
  }

  settle(grant: Grant, actualTokens: number, costMicros: number): void {
    const g = grant as LocalGrant;
    if (g.reservation !== null) this.ledger.settle(g.reservation, costMicros);
    if (g.lease !== null) this.limiter.settle(g.lease, actualTokens, costMicros);
  }

  async balance(userId: number, load: boolean): Promise<BalanceSnapshot | null> {
    if (load && !this.ledger.isLoaded(userId)) await this.ledger.ensureLoaded(userId);
    return this.ledger.snapshot(userId);
  }
}
