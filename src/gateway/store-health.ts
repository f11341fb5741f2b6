/**
 * Whether requests can be authenticated: the store answers key lookups. A
 * failed lookup marks the store unavailable (readiness turns 503, new keys
 * get 503 with Retry-After rather than a 500); a successful one, or a probe
 * from the readiness check, marks it available again. Cached keys keep
 * working meanwhile. The readiness check also probes a store that has not
 * answered for a while, so an outage with no uncached key arriving (a quiet
 * node, a load balancer polling /readyz) is still reported.
 */

/** How long a store answer counts as fresh for /readyz: at most one probe per second. */
const FRESH_MS = 1_000;
/** A probe that takes longer (a black-holed host) counts as failed. */
const PROBE_TIMEOUT_MS = 2_000;

export class StoreHealth {
  #failingSince = 0;
  #lastOkAt = 0;
  #probing: Promise<boolean> | null = null;
  readonly #probe: () => Promise<unknown>;

  /** `probe`: a cheap store read, tried by the readiness check when the last answer is not fresh. */
  constructor(probe: () => Promise<unknown>) {
    this.#probe = probe;
  }

  get available(): boolean {
    return this.#failingSince === 0;
  }

  failed(now: number): void {
    if (this.#failingSince === 0) this.#failingSince = now;
  }

  succeeded(now = Date.now()): void {
    this.#failingSince = 0;
    this.#lastOkAt = now;
  }

  /** For /readyz: true when the store answered within the last second, else after a probe (one at a time). */
  check(now = Date.now()): Promise<boolean> {
    if (this.available && now - this.#lastOkAt < FRESH_MS) return Promise.resolve(true);
    this.#probing ??= this.#runProbe().finally(() => (this.#probing = null));
    return this.#probing;
  }

  async #runProbe(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('store probe timed out')), PROBE_TIMEOUT_MS);
      timer.unref();
    });
    try {
      await Promise.race([this.#probe(), timeout]);
      this.succeeded();
      return true;
    } catch {
      this.failed(Date.now());
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
