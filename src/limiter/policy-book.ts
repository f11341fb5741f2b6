/**
 * The limit policies in force, indexed for the hot path: which of the (at most
 * five) scopes have a policy for this user, key and model; and the spend
 * budgets of each user and key. Each swapped whole when a 'limits' or
 * 'budgets' change event arrives.
 */
import type { BudgetPolicy } from './budget.ts';
import type { LimitPolicy, LimitScope } from './limiter.ts';

const NONE: readonly LimitPolicy[] = Object.freeze([]);
/** The shared empty budget list. */
export const NO_BUDGETS: readonly BudgetPolicy[] = Object.freeze([]);

export class PolicyBook {
  #byScope = new Map<LimitScope, Map<string, LimitPolicy>>();
  #global: LimitPolicy | null = null;
  #empty = true;
  #hasTokenLimits = false;
  #userBudgets = new Map<string, BudgetPolicy[]>();
  #keyBudgets = new Map<string, BudgetPolicy[]>();

  constructor(policies: readonly LimitPolicy[] = [], budgets: readonly BudgetPolicy[] = []) {
    this.replace(policies);
    this.replaceBudgets(budgets);
  }

  replaceBudgets(budgets: readonly BudgetPolicy[]): void {
    const users = new Map<string, BudgetPolicy[]>();
    const keys = new Map<string, BudgetPolicy[]>();
    for (const b of budgets) {
      const m = b.scope === 'user' ? users : keys;
      let list = m.get(b.subject);
      if (list === undefined) m.set(b.subject, (list = []));
      list.push(b);
    }
    this.#userBudgets = users;
    this.#keyBudgets = keys;
  }

  /** The spend budgets of a user and of its key; the shared empty array when none apply. */
  budgetsFor(userId: number, keyId: number): readonly BudgetPolicy[] {
    if (this.#userBudgets.size === 0 && this.#keyBudgets.size === 0) return NO_BUDGETS;
    const user = this.#userBudgets.get(String(userId));
    const key = this.#keyBudgets.get(String(keyId));
    if (key === undefined) return user ?? NO_BUDGETS;
    return user === undefined ? key : [...user, ...key];
  }

  replace(policies: readonly LimitPolicy[]): void {
    const byScope = new Map<LimitScope, Map<string, LimitPolicy>>();
    let global: LimitPolicy | null = null;
    for (const p of policies) {
      if (p.rpm === null && p.tpm === null && p.concurrency === null) continue;
      if (p.scope === 'global') global = p;
      else {
        let m = byScope.get(p.scope);
        if (m === undefined) byScope.set(p.scope, (m = new Map()));
        m.set(p.subject, p);
      }
    }
    this.#byScope = byScope;
    this.#global = global;
    this.#empty = global === null && byScope.size === 0;
    this.#hasTokenLimits = policies.some((p) => p.tpm !== null);
  }

  /** Every policy that applies to one request; a shared empty array when none do. */
  policiesFor(userId: number, keyId: number, model: string): readonly LimitPolicy[] {
    if (this.#empty) return NONE;
    const out: LimitPolicy[] = [];
    if (this.#global !== null) out.push(this.#global);
    const user = this.#byScope.get('user')?.get(String(userId));
    if (user !== undefined) out.push(user);
    const key = this.#byScope.get('key')?.get(String(keyId));
    if (key !== undefined) out.push(key);
    const m = this.#byScope.get('model')?.get(model);
    if (m !== undefined) out.push(m);
    const um = this.#byScope.get('user_model')?.get(`${userId}:${model}`);
    if (um !== undefined) out.push(um);
    return out.length === 0 ? NONE : out;
  }

  /** Whether any policy limits tokens (then a request's tokens must be estimated). */
  get hasTokenLimits(): boolean {
    return this.#hasTokenLimits;
  }
}
