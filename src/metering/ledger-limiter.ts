/**
 * One node, no Redis: the credit ask is judged right after the limits, in the
 * same synchronous step, by the in-memory CreditLedger — so the limits and
 * the balance of one request are still one indivisible decision on the JS
 * thread. Composes by wrapping: the limiter underneath is unchanged.
 */
import { creditsRefused, type Admission, type AdmissionRequest, type Lease, type Limiter, type LimiterStats } from '../limiter/limiter.ts';
import type { MemoryLimiter } from '../limiter/memory-limiter.ts';
import type { BudgetPolicy, BudgetUsage } from '../limiter/budget.ts';
import type { CreditLedger } from './ledger.ts';

/** The memory limiter with the credit ledger's ask in its admission. */
export class LedgerLimiter implements Limiter {
  readonly kind = 'memory';
  readonly inner: MemoryLimiter;
  readonly ledger: CreditLedger;
  readonly admitSync: (req: AdmissionRequest) => Admission;

  constructor(inner: MemoryLimiter, ledger: CreditLedger) {
    this.inner = inner;
    this.ledger = ledger;
    // A bound function, so the hot path can keep calling `limiter.admitSync(req)` off the property.
    this.admitSync = (req) => this.#admit(req);
  }

  ready(timeoutMs: number): Promise<boolean> {
    return this.inner.ready(timeoutMs);
  }

  isAvailable(): boolean {
    return this.inner.isAvailable();
  }

  stats(): LimiterStats {
    return this.inner.stats();
  }

  admit(req: AdmissionRequest): Promise<Admission> {
    return Promise.resolve(this.#admit(req));
  }

  settle(lease: Lease, actualTokens: number, actualMicros = 0): void {
    this.inner.settle(lease, actualTokens, actualMicros);
  }

  budgetUsage(budgets: readonly BudgetPolicy[]): Promise<BudgetUsage[]> {
    return this.inner.budgetUsage(budgets);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Limits first, then credits; a credit refusal gives the limits back. The user must be loaded (CreditGate.prepare). */
  #admit(req: AdmissionRequest): Admission {
    const admission = this.inner.admitSync(req);
    const ask = req.credit;
    if (!admission.allowed || ask === undefined || ask === null) return admission;
    const hold = this.ledger.reserve(ask.userId, ask.micros);
    if (hold !== null) {
      admission.hold = hold;
      return admission;
    }
    this.inner.settle(admission.lease, 0);
    const snap = this.ledger.snapshot(ask.userId)!;
    return creditsRefused(ask.userId, snap.balanceMicros, snap.reservedMicros, admission.state);
  }
}
