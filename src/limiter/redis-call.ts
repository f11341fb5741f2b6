// Writing one call of the limiter script (calling convention in
// redis-script.ts): the limiter's own KEYS, and the ARGV sections in the
// order the script reads them — header, policies, rate settlements, the
// credit ledger's part, the spend budgets' part. The settlement, ledger and
// budget writers append their own KEYS as they go (settlement-queue.ts,
// metering/redis-credits.ts, redis-budget.ts).

import type { LimitPolicy, LimitScope } from './limiter.ts';

const SCOPE_CODE: Readonly<Record<LimitScope, string>> = { global: 'g', user: 'u', key: 'k', model: 'm', user_model: 'um' };

/** Appends the state hash and lease ZSET of each policy under `base` to `args`, and records them in `keys`. */
export function appendPolicyKeys(args: (string | number)[], base: string, policies: readonly LimitPolicy[], keys: string[]): void {
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i];
    const tail = SCOPE_CODE[p.scope] + ':' + p.subject;
    const s = base + 's:' + tail;
    const c = base + 'c:' + tail;
    keys[2 * i] = s;
    keys[2 * i + 1] = c;
    args.push(s, c);
  }
}

/**
 * Closes the KEYS (their count goes first) and appends every ARGV section.
 * `slots` are the rate settlements' (four values each); `ledger` and
 * `budgets` the sections their writers returned.
 */
export function appendArgv(
  args: (string | number)[],
  tokens: number,
  leaseId: string,
  windowMs: number,
  leaseTtlMs: number,
  policies: readonly LimitPolicy[],
  slots: readonly (string | number)[] | null,
  ledger: readonly (string | number)[],
  budgets: readonly (string | number)[],
): void {
  args[0] = args.length - 1;
  args.push(policies.length, windowMs, tokens, leaseId, leaseTtlMs, slots === null ? 0 : slots.length / 4);
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i];
    args.push(p.rpm ?? -1, p.tpm ?? -1, p.concurrency ?? -1);
  }
  if (slots !== null) for (let i = 0; i < slots.length; i++) args.push(slots[i]);
  for (let i = 0; i < ledger.length; i++) args.push(ledger[i]);
  for (let i = 0; i < budgets.length; i++) args.push(budgets[i]);
}
