/**
 * A FIFO queue on a circular array: push and shift are O(1), and taking a
 * batch of n costs O(n) whatever the queue's length. `Array.prototype.shift`
 * and `splice(0, n)` move every remaining element instead, which on a queue
 * of 10 000 records is 10 000 moves per batch.
 *
 *              head                 head + length
 *               ▼                        ▼
 *   slots: [ . . a b c d e f . . . . . . ]      capacity: a power of two;
 *   slots: [ e f . . . . . . . . a b c d ]      indices wrap with `& mask`
 *                ▲                  ▲
 *         head + length            head
 *
 * Unlike undici's FixedQueue (lib/dispatcher/fixed-queue.js, a list of fixed
 * 2048-slot rings) it grows by doubling one ring, because the usage writer
 * also needs to put records back at the front, in order. It never shrinks:
 * a queue that once held n items keeps room for n (the writer's is bounded
 * by its maxQueue). Vacated slots are cleared so the queue holds no stale
 * references.
 */
export class RingBuffer<T> {
  #slots: (T | undefined)[];
  #mask: number;
  #head = 0;
  #length = 0;

  /** `capacity` is rounded up to a power of two (at least 2). */
  constructor(capacity = 16) {
    let c = 2;
    while (c < capacity) c *= 2;
    this.#slots = new Array<T | undefined>(c);
    this.#mask = c - 1;
  }

  get length(): number {
    return this.#length;
  }

  /** Appends `item` at the back; returns the new length. */
  push(item: T): number {
    if (this.#length === this.#slots.length) this.#grow(this.#length + 1);
    this.#slots[(this.#head + this.#length) & this.#mask] = item;
    return ++this.#length;
  }

  /** Removes and returns the item at the front, or undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#slots[this.#head];
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  /** The item at the front without removing it, or undefined when empty. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#slots[this.#head];
  }

  /** Removes and returns up to `n` items from the front, oldest first. */
  take(n: number): T[] {
    const count = Math.min(Math.max(n, 0), this.#length);
    const out = new Array<T>(count);
    for (let i = 0; i < count; i++) {
      const at = (this.#head + i) & this.#mask;
      out[i] = this.#slots[at] as T;
      this.#slots[at] = undefined;
    }
    this.#head = (this.#head + count) & this.#mask;
    this.#length -= count;
    return out;
  }

  /** Puts `items` back at the front, in their order: `items[0]` becomes the front. */
  prepend(items: readonly T[]): void {
    if (this.#length + items.length > this.#slots.length) this.#grow(this.#length + items.length);
    for (let i = items.length - 1; i >= 0; i--) {
      this.#head = (this.#head - 1) & this.#mask;
      this.#slots[this.#head] = items[i];
    }
    this.#length += items.length;
  }

  /** Copies the items into a new ring of at least `needed` slots, starting at index 0. */
  #grow(needed: number): void {
    let c = this.#slots.length * 2;
    while (c < needed) c *= 2;
    const slots = new Array<T | undefined>(c);
    for (let i = 0; i < this.#length; i++) slots[i] = this.#slots[(this.#head + i) & this.#mask];
    this.#slots = slots;
    this.#mask = c - 1;
    this.#head = 0;
  }
}
