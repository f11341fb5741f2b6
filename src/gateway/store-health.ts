/**
 * Whether requests can be authenticated: the store answers key lookups. A
 * failed lookup marks the store unavailable (readiness turns 503, new keys
 * get 503 with Retry-After rather than a 500); a successful one, or a probe
 * from the readiness check, marks it available again. Cached keys keep
 * working meanwhile.
 */
export class StoreHealth {
  #failingSince = 0;
  readonly #probe: () => Promise<unknown>;

  /** `probe`: a cheap store read, tried by the readiness check while the store is failing. */
  constructor(probe: () => Promise<unknown>) {
    this.#probe = probe;
  }

  get available(): boolean {
    return this.#failingSince === 0;
  }

  failed(now: number): void {
    if (this.#failingSince === 0) this.#failingSince = now;
  }

  succeeded(): void {
    this.#failingSince = 0;
  }

  /** For /readyz: the current state, re-probed while failing so recovery is seen without traffic. */
  async check(): Promise<boolean> {
    if (this.available) return true;
    try {
      await this.#probe();
      this.succeeded();
      return true;
    } catch {
      return false;
    }
  }
}
