// Settlements of the Redis limiter waiting for a script call to carry them
// (redis-limiter.ts explains the piggy-backing), and how they are written
// into that call.
//
// The queue is a bounded FIFO on a ring buffer: a batch of k is taken from
// the front in O(k), where shift()/splice(0, k) on an array of up to
// `capacity` (10,000 by default) entries moved every entry behind it.
//
//           head                  tail = (head + length) % capacity
//             v                     v
//   +-----+-----+-----+-----+-----+-----+-----+-----+
//   |     | L1  | L2  | L3  | L4  |     |     |     |   capacity 8, length 4
//   +-----+-----+-----+-----+-----+-----+-----+-----+
//     take() reads from head, push() writes at tail; both wrap past the end.
//     A full queue is one where tail has come round to head: push() then
//     drops the oldest (at head) and moves head on, so while Redis is down
//     the newest settlements are kept and memory stays bounded.
//
// Taken slots are cleared so a settled lease is not kept alive by the ring.

import type { RedisLease } from './redis-lease.ts';

/** A fixed-capacity FIFO of leases whose settlement has not reached Redis yet. */
export class SettlementQueue {
  readonly capacity: number;
  readonly #ring: (RedisLease | null)[];
  #head: number;
  #length: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('settlement queue capacity must be a positive integer');
    this.capacity = capacity;
    this.#ring = new Array<RedisLease | null>(capacity).fill(null);
    this.#head = 0;
    this.#length = 0;
  }

  /** Settlements waiting. */
  get length(): number {
    return this.#length;
  }

  /** Appends a lease; when the queue is full the oldest is dropped first, and the result is true. */
  push(lease: RedisLease): boolean {
    const ring = this.#ring;
    if (this.#length === this.capacity) {
      ring[this.#head] = lease;
      this.#head = this.#head + 1 === this.capacity ? 0 : this.#head + 1;
      return true;
    }
    let tail = this.#head + this.#length;
    if (tail >= this.capacity) tail -= this.capacity;
    ring[tail] = lease;
    this.#length++;
    return false;
  }

  /** Removes and returns the oldest `max` leases (fewer if fewer wait), or null when none wait. */
  take(max: number): RedisLease[] | null {
    const n = Math.min(max, this.#length);
    if (n <= 0) return null;
    const ring = this.#ring;
    const out = new Array<RedisLease>(n);
    let i = this.#head;
    for (let k = 0; k < n; k++) {
      out[k] = ring[i] as RedisLease;
      ring[i] = null;
      if (++i === this.capacity) i = 0;
    }
    this.#head = i;
    this.#length -= n;
    return out;
  }
}

/**
 * Writes settlements into a script call (calling convention in
 * redis-script.ts): appends two KEYS per settled policy to `args` and returns
 * the matching ARGV slots, four per slot. A policy needs a slot when it
 * releases concurrency or corrects a TPM reservation. Each lease's delta is
 * zeroed: it is applied at most once.
 */
export function appendSettlements(args: (string | number)[], leases: readonly RedisLease[]): (string | number)[] {
  const slots: (string | number)[] = [];
  for (const lease of leases) {
    const policies = lease.policies;
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i];
      const release = p.concurrency !== null;
      const correct = lease.delta !== 0 && p.tpm !== null;
      if (!release && !correct) continue;
      args.push(lease.keys[2 * i], lease.keys[2 * i + 1]);
      slots.push(lease.id, correct ? (p.tpm as number) : -1, lease.delta, release ? 1 : 0);
    }
    lease.delta = 0;
  }
  return slots;
}
