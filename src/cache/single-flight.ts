/**
 * Single-flight: of N identical concurrent misses, the first becomes the
 * leader and does the work (an upstream call, a store read); the others wait
 * for its result instead of repeating it. The leader settles its flight with
 * the value, or with null when it has none to share (a failed or cut answer):
 * the waiters then fetch on their own.
 */

/** The leader's handle on its flight; settle it exactly once. */
export interface Flight<V> {
  settle(value: V | null): void;
}

export class SingleFlight<V> {
  readonly #flights = new Map<string, PromiseWithResolvers<V | null>>();

  /** A flight to lead when none is in progress for `key`, else the promise of the one that is. */
  join(key: string): Flight<V> | Promise<V | null> {
    const current = this.#flights.get(key);
    if (current !== undefined) return current.promise;
    const flight = Promise.withResolvers<V | null>();
    this.#flights.set(key, flight);
    const flights = this.#flights;
    return {
      settle(value: V | null): void {
        if (flights.get(key) !== flight) return;
        flights.delete(key);
        flight.resolve(value);
      },
    };
  }

  /** Flights in progress. */
  get size(): number {
    return this.#flights.size;
  }
}
