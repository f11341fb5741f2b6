// The limiter contract shared by the memory and Redis backends.
//
// One admission judges every limit that applies to a request together
// ("merged judgment"): if any limit refuses, nothing is consumed from any of
// them. A denial is a typed result, never an exception; exceptions are kept
// for programming errors.

import type { BudgetPolicy, BudgetRefusal, BudgetUsage } from './budget.ts';

/** What a limit is attached to. */
export type LimitScope = 'global' | 'user' | 'key' | 'model' | 'user_model';

/** Every scope, in a fixed order (backends index per-scope tables by it). */
export const LIMIT_SCOPES: readonly LimitScope[] = ['global', 'user', 'key', 'model', 'user_model'];

/**
 * The limits of one subject. `null` means "no such limit"; `0` blocks.
 * `subject` is '' for global, the user id, the key id, the model name, or
 * `${userId}:${model}` for user_model. Policies of one request must have
 * distinct (scope, subject) pairs.
 */
export interface LimitPolicy {
  scope: LimitScope;
  subject: string;
  /** Requests per window (per minute by default). */
  rpm: number | null;
  /** Tokens per window (per minute by default). */
  tpm: number | null;
  /** Requests in flight at once. */
  concurrency: number | null;
}

/** One request to admit: all its policies and its estimated token count. */
export interface AdmissionRequest {
  policies: readonly LimitPolicy[];
  /** Estimated tokens, reserved against every TPM limit until settlement. */
  tokens: number;
  /** Spend budgets of the caller (budget.ts); absent: none. */
  budgets?: readonly BudgetPolicy[];
  /** Micro-credits reserved against every budget until settlement (the request's credit reservation). */
  micros?: number;
  /** The user making the request: on a sharded Redis its keys sit in that user's shard (other backends ignore it). */
  userId?: number;
  /**
   * Credits to hold for the request, judged in the same step as the limits
   * (absent or null: a free request). A backend without a credit ledger
   * ignores it; see metering/credit-gate.ts for the backends that have one.
   */
  credit?: CreditAsk | null;
}

/** The credit part of an admission: hold `micros` of the user's balance under `holdId` (the request's record id). */
export interface CreditAsk {
  readonly userId: number;
  readonly micros: number;
  readonly holdId: string;
}

/** Credits an admission holds for a request; settle it exactly once with the real cost (metering/credit-gate.ts). */
export interface CreditHold {
  readonly userId: number;
  readonly micros: number;
  settled: boolean;
}

/**
 * What the rate-limit headers report, taken from the tightest RPM policy and
 * the tightest TPM policy (least remaining). Each field is -1 when no such
 * limit applies to the request.
 */
export class RateLimitState {
  limitRequests: number;
  remainingRequests: number;
  /** Milliseconds until the request budget is full again. */
  resetRequestsMs: number;
  limitTokens: number;
  remainingTokens: number;
  /** Milliseconds until the token budget is full again. */
  resetTokensMs: number;

  constructor(
    limitRequests: number,
    remainingRequests: number,
    resetRequestsMs: number,
    limitTokens: number,
    remainingTokens: number,
    resetTokensMs: number,
  ) {
    this.limitRequests = limitRequests;
    this.remainingRequests = remainingRequests;
    this.resetRequestsMs = resetRequestsMs;
    this.limitTokens = limitTokens;
    this.remainingTokens = remainingTokens;
    this.resetTokensMs = resetTokensMs;
  }
}

/** The state reported when no RPM or TPM limit is known (e.g. Redis unavailable). */
export const NO_LIMIT_STATE: Readonly<RateLimitState> = Object.freeze(new RateLimitState(-1, -1, -1, -1, -1, -1));

/**
 * Proof of an admission, handed back to `settle` exactly once. Each backend
 * has its own lease class; callers treat it as opaque.
 */
export interface Lease {
  /** True once settled; a second settle is a no-op. */
  readonly settled: boolean;
  /** Tokens reserved at admission. */
  readonly tokens: number;
}

/**
 * Which limit refused. 'unavailable' = the shared store failed and the policy
 * is fail-closed (HTTP 503); 'budget' = a spend budget is used up (HTTP 402);
 * 'credits' = the balance cannot cover the credit ask (HTTP 402).
 */
export type RefusalKind = 'rpm' | 'tpm' | 'concurrency' | 'unavailable' | 'budget' | 'credits';

/** An admitted request: settle the lease (and the credit hold) on every exit path. */
export interface Admitted {
  allowed: true;
  lease: Lease;
  state: RateLimitState;
  /** The credits held when the request asked for some. */
  hold?: CreditHold;
}

/** A refused request: nothing was consumed. */
export interface Refused {
  allowed: false;
  scope: LimitScope;
  subject: string;
  kind: RefusalKind;
  /** The refusing limit's value (requests, tokens or slots); -1 for 'unavailable'. */
  limit: number;
  /**
   * Milliseconds until a retry can succeed (for Retry-After). When the
   * request can never fit (more tokens than the TPM limit, or a limit of 0)
   * it is the window length.
   */
  retryAfterMs: number;
  state: RateLimitState;
  /** Set when kind is 'budget' (then `limit` is the budget's micro-credits). */
  budget?: BudgetRefusal;
  /** For a 'credits' refusal: the user's balance and what requests in flight hold of it. */
  credit?: { balanceMicros: number; reservedMicros: number };
}

/** A refusal for credits: the user's balance minus what is held cannot cover the ask (HTTP 402). */
export function creditsRefused(userId: number, balanceMicros: number, reservedMicros: number, state: RateLimitState): Refused {
  return { allowed: false, scope: 'user', subject: String(userId), kind: 'credits', limit: -1, retryAfterMs: 0, state, credit: { balanceMicros, reservedMicros } };
}

/** The outcome of `admit`. */
export type Admission = Admitted | Refused;

/** Counters every backend reports; backends add their own. */
export interface LimiterStats {
  /** Settlements queued for the shared store; always 0 for a backend that settles in place. */
  pendingSettlements: number;
}

/** A rate limiter backend. */
export interface Limiter {
  /** Which backend this is: lets the composition root export backend-specific metrics without a downcast. */
  readonly kind: 'memory' | 'redis';
  /**
   * Resolves true once the backend's connections are ready, false after
   * `timeoutMs`. Admissions work before, through the backend's fail policy.
   */
  ready(timeoutMs: number): Promise<boolean>;
  /** Whether decisions come from the backend itself rather than its fail policy (for /readyz and metrics). */
  isAvailable(): boolean;
  /** Current counters. */
  stats(): LimiterStats;
  /** Judges every policy of the request together; consumes from all or none. */
  admit(req: AdmissionRequest): Promise<Admission>;
  /**
   * Synchronous admission, present only on backends that never do I/O
   * (memory): lets the hot path skip a promise and a microtask.
   */
  readonly admitSync?: (req: AdmissionRequest) => Admission;
  /**
   * Ends an admission: corrects every TPM reservation by
   * (actualTokens - estimated), every budget reservation by
   * (actualMicros - reserved), and releases concurrency. Call exactly once
   * per lease on every exit path; later calls are ignored. `actualMicros`
   * is what the request was charged (default 0: it spent nothing).
   */
  settle(lease: Lease, actualTokens: number, actualMicros?: number): void;
  /** What each budget has spent (and holds in flight) in its current period, as this limiter counts it. */
  budgetUsage(budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]>;
  /** Flushes pending settlements and releases connections the limiter owns. */
  close(): Promise<void>;
}

/** Wire-level code of each refusal kind (the Redis script returns these). */
export const REFUSAL_KINDS: readonly RefusalKind[] = ['rpm', 'tpm', 'concurrency', 'unavailable', 'budget', 'credits'];

/** Retry hint for a concurrency refusal: a slot frees when some request ends, which no clock predicts. */
export const CONCURRENCY_RETRY_MS = 1000;

/** Default window: limits are per minute. */
export const DEFAULT_WINDOW_MS = 60_000;
