/**
 * Bytes received in chunks, taken off the front in exact sizes: what both
 * frame parsers of the hop need (frame-codec.ts's decoder, mux-socket.ts).
 * A take copies only when the bytes span chunks.
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  /** Bytes held. */
  length = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes (at most `length`) without removing them. */
  peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks, this.length).subarray(0, n);
  }

  /** Removes and returns the first `n` bytes (at most `length`). */
  take(n: number): Buffer {
    this.length -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}
