/**
 * Replay protection of hop requests: a request is accepted only when its
 * timestamp is within ±window of this node's clock and its nonce was not seen
 * inside the window. Nonces are remembered for the window plus the skew they
 * could have been signed with, in insertion order, so expired ones are
 * dropped from the front of the Map. The cache is bounded: when it is full of
 * live nonces a new request is refused (503) rather than remembered badly.
 */

export type ReplayVerdict = 'ok' | 'expired' | 'replayed' | 'busy';

/**
 * Where a node checks nonces: its own ReplayGuard, or (serve --workers N) the
 * main thread's one, so a request replayed to another worker is still caught.
 */
export interface ReplayCheck {
  check(nonce: string, ts: number, now: number): ReplayVerdict | Promise<ReplayVerdict>;
}

export class ReplayGuard implements ReplayCheck {
  readonly #windowMs: number;
  readonly #max: number;
  /** nonce → the time after which it may be forgotten. */
  readonly #seen = new Map<string, number>();

  constructor(windowMs: number, maxNonces: number) {
    this.#windowMs = windowMs;
    this.#max = maxNonces;
  }

  check(nonce: string, ts: number, now: number): ReplayVerdict {
    if (ts < now - this.#windowMs || ts > now + this.#windowMs) return 'expired';
    this.#sweep(now);
    if (this.#seen.has(nonce)) return 'replayed';
    if (this.#seen.size >= this.#max) return 'busy';
    // A nonce signed at ts is accepted until ts + window; remember it that long (at least).
    this.#seen.set(nonce, Math.max(ts, now) + this.#windowMs);
    return 'ok';
  }

  #sweep(now: number): void {
    // Forget-times are near-monotonic in insertion order (bounded by the window), so stop at the first live one.
    for (const [nonce, forgetAt] of this.#seen) {
      if (forgetAt > now) break;
      this.#seen.delete(nonce);
    }
  }

  get size(): number {
    return this.#seen.size;
  }
}
