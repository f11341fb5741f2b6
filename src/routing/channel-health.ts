/**
 * Capped exponential cooldowns for channels and upstream keys. A failure puts
 * the target out of rotation for base·2^(n−1) ms (capped); a success resets it.
 * Health lives outside the route table so a table rebuild keeps it.
 */
export interface HealthState { failures: number; cooldownUntil: number }

export class HealthBook {
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #states = new Map<string, HealthState>();

  constructor(baseMs: number, maxMs: number) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  /** The shared state object for a target; the route table keeps a reference so the hot path reads a field, not a Map. */
  stateFor(id: string): HealthState {
    let state = this.#states.get(id);
    if (state === undefined) {
      state = { failures: 0, cooldownUntil: 0 };
      this.#states.set(id, state);
    }
    return state;
  }

  /** Returns the cooldown applied, in ms. */
  fail(state: HealthState, now: number): number {
    state.failures++;
    const ms = Math.min(this.#maxMs, this.#baseMs * 2 ** Math.min(state.failures - 1, 30));
    state.cooldownUntil = now + ms;
    return ms;
  }

  succeed(state: HealthState): void {
    if (state.failures !== 0) {
      state.failures = 0;
      state.cooldownUntil = 0;
    }
  }

  /** For the admin API: every target currently cooling down. */
  cooling(now: number): Array<{ id: string; failures: number; remainingMs: number }> {
    const out = [];
    for (const [id, s] of this.#states) if (s.cooldownUntil > now) out.push({ id, failures: s.failures, remainingMs: s.cooldownUntil - now });
    return out;
  }
}

/**
 * Round-robin from `start` over `members`, skipping those cooling down unless all
 * are (a cooldown is a preference, not an outage): upstream keys, outbound proxies.
 */
export function nextReady<T extends { readonly health: HealthState }>(members: readonly T[], start: number, now: number): T | null {
  const n = members.length;
  if (n === 0) return null;
  for (let i = 0; i < n; i++) {
    const member = members[(start + i) % n];
    if (member.health.cooldownUntil <= now) return member;
  }
  return members[start % n];
}
