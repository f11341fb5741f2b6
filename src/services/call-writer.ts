/**
 * Batched writer of service call records: the request path only pushes onto
 * an array; a timer (or a full batch) inserts the batch in one statement.
 * Bounded: past `maxQueue` records a new record is dropped and counted rather
 * than growing memory while the store is down. Records still queued are
 * written by `close`.
 */
import type { ServiceCall } from '../store/store.ts';

export interface CallWriterOptions {
  insert: (calls: readonly ServiceCall[]) => Promise<void>;
  batchSize: number;
  flushMs: number;
  maxQueue: number;
  onDrop: () => void;
  onError: (err: unknown) => void;
}

export class CallWriter {
  readonly #o: CallWriterOptions;
  #queue: ServiceCall[] = [];
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: CallWriterOptions) {
    this.#o = options;
  }

  /** Queues one record; never waits. */
  push(call: ServiceCall): void {
    if (this.#queue.length >= this.#o.maxQueue) return this.#o.onDrop();
    this.#queue.push(call);
    if (this.#queue.length >= this.#o.batchSize) void this.flush();
    else if (this.#timer === null) {
      this.#timer = setTimeout(flushLater, this.#o.flushMs, this);
      this.#timer.unref();
    }
  }

  /** Writes everything queued so far; resolves when it is stored (or failed and was reported). */
  flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#queue;
    if (batch.length === 0) return this.#writing;
    this.#queue = [];
    this.#writing = this.#writing.then(() => this.#o.insert(batch)).catch(this.#o.onError);
    return this.#writing;
  }

  get queued(): number {
    return this.#queue.length;
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

function flushLater(writer: CallWriter): void {
  void writer.flush();
}
