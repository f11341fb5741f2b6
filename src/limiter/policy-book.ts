/**
 * The limit policies in force, indexed for the hot path: which of the (at most
 * five) scopes have a policy for this user, key and model. Swapped whole when a
 * 'limits' change event arrives.
 */
import type { LimitPolicy, LimitScope } from './limiter.ts';

const NONE: readonly LimitPolicy[] = Object.freeze([]);

export class PolicyBook {
  #byScope = new Map<LimitScope, Map<string, LimitPolicy>>();
  #global: LimitPolicy | null = null;
  #empty = true;
  #hasTokenLimits = false;

  constructor(policies: readonly LimitPolicy[] = []) {
    this.replace(policies);
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
