/**
 * The batched usage writer: the hot path hands each finished request's
 * record to `enqueue` (O(1), no await, no throw); the writer commits records
 * in batches, ONE `applyBatch` transaction each (records + balance debits).
 *
 *   enqueue ──► queue ──(batchSize reached, or every flushIntervalMs)──► applyBatch
 *            (ring buffer)                                  (batch-committer.ts)
 *                 │                                                │ fails
 *                 │ > maxQueue                                     ▼
 *                 └────────────► spool files ◄──── after spillAfterFailures
 *                             (spool-backlog.ts)    failures in a row
 *                                     │
 *                                     └── drained (oldest first) once the
 *                                         queue is empty and the store answers
 *
 * Rules:
 * - At most one applyBatch in flight; records that arrive meanwhile wait for
 *   the next batch. A failed batch is kept and retried first, with capped
 *   exponential backoff.
 * - Memory is bounded by maxQueue (plus what arrives while a spill is being
 *   written): past it the queue goes to a spool file. A spill that fails
 *   (disk full) puts the records back in memory: never a silent drop.
 * - A spool file is deleted only after all its records committed; replay is
 *   idempotent (the store skips request ids it already holds).
 * - Records are repaired (usage-record.ts) when they leave the queue, for a
 *   batch or a spill, not in `enqueue`: the repair is a loop over the record's
 *   fields, batched here rather than paid on the request path.
 * - `close` flushes; when the store cannot be reached by the deadline,
 *   everything left (including a batch still in flight, or being retried
 *   record by record) goes to the spool.
 */
import { RingBuffer } from '../collections/ring-buffer.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { ApplyBatchResult } from '../store/usage-repo.ts';
import { BatchCommitter, type UsageSink } from './batch-committer.ts';
import { SpoolBacklog, type WriterLog } from './spool-backlog.ts';
import { normalizeRecord } from './usage-record.ts';

export type { UsageSink } from './batch-committer.ts';

export interface UsageWriterOptions {
  /** The spool lives in `${dataDir}/spool`. */
  dataDir: string;
  /** Records per transaction (default 512). */
  batchSize?: number;
  /** Flush a partial batch this often (default 50). 0: flush at the end of every event-loop tick. */
  flushIntervalMs?: number;
  /** Records held in memory before spilling to the spool (default 50 000). */
  maxQueue?: number;
  /** Spill the queue after this many failed flushes in a row (default 3). */
  spillAfterFailures?: number;
  /** First retry delay after a failure, doubled per failure up to backoffMaxMs (defaults 100, 5000). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Default deadline of `flush()` (default 10 000). */
  flushTimeoutMs?: number;
  log?: WriterLog;
  /** Called after each committed batch (metrics): records in it and seconds the commit took. */
  onFlush?: (records: number, seconds: number) => void;
  /** Called with the number of records each spill wrote to the spool (metrics). */
  onSpill?: (records: number) => void;
  /** Called after each commit with applyBatch's result and the records it was given (the credit ledgers' pending debits). */
  onCommit?: (result: ApplyBatchResult, records: readonly UsageRecordInsert[]) => void;
  /** Called with records the store refused for good (set aside in a rejected file): give their debits back. */
  onRefused?: (records: readonly UsageRecordInsert[]) => void;
}

/** Counters for metrics. */
export interface UsageWriterStats {
  /** Records in memory waiting for a batch (including a failed batch kept for retry); ≤ maxQueue + batchSize. */
  queued: number;
  /** Records in memory being written to a spool file right now. */
  spilling: number;
  /** Records in the applyBatch call now running. */
  inFlight: number;
  /** Records in spool files, not yet committed. */
  spooledRecords: number;
  /** Records committed (replayed duplicates included). */
  flushedRecords: number;
  /** Successful applyBatch calls. */
  flushes: number;
  /** Duration of the last successful applyBatch, ms. */
  lastFlushMs: number;
  /** Failed applyBatch calls. */
  failures: number;
  /** Spill writes to the spool. */
  spills: number;
  /** Lines or records moved to a rejected-*.jsonl file because they can never be stored. */
  rejected: number;
}

const NOOP_LOG: WriterLog = { warn: () => undefined, error: () => undefined };

function positiveInt(name: string, v: number, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`usage writer: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Batches usage records into the store, spilling to a local spool when it cannot keep up. */
export class UsageWriter {
  readonly #backlog: SpoolBacklog;
  readonly #committer: BatchCommitter;
  readonly #log: WriterLog;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #maxQueue: number;
  readonly #spillAfter: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #flushTimeout: number;

  readonly #queue = new RingBuffer<UsageRecordInsert>(1024);
  /** A batch taken from the queue whose applyBatch failed: retried before anything else. */
  #retry: UsageRecordInsert[] | null = null;
  /** The batch inside the running applyBatch (for stats, and to spool it on a deadline). */
  #inFlight: UsageRecordInsert[] | null = null;
  #inFlightFromSpool = false;
  /** Whether the batch `#nextBatch` last returned came from the spool. */
  #fromSpool = false;

  #pumping: Promise<void> | null = null;
  #immediateArmed = false;
  #consecutiveFailures = 0;
  #nextAttemptAt = 0;
  #closed = false;
  readonly #timer: NodeJS.Timeout;

  #failures = 0;

  // Bound once, so that arming a flush allocates no closure.
  readonly #onImmediate = (): void => {
    this.#immediateArmed = false;
    // While backing off, the interval timer makes the next attempt.
    if (Date.now() >= this.#nextAttemptAt) void this.#startPump(false);
  };
  readonly #onTick = (): void => {
    if (this.#pumping !== null || Date.now() < this.#nextAttemptAt) return;
    if (this.#queue.length > 0 || this.#retry !== null || this.#backlog.hasFiles) void this.#startPump(false);
  };

  /**
   * Opens the spool (left-over files from an earlier run are drained first
   * thing) and starts the flush timer, which does not keep the process alive.
   */
  constructor(sink: UsageSink, opts: UsageWriterOptions) {
    this.#log = opts.log ?? NOOP_LOG;
    this.#batchSize = positiveInt('batchSize', opts.batchSize ?? 512, 1);
    this.#intervalMs = positiveInt('flushIntervalMs', opts.flushIntervalMs ?? 50, 0);
    this.#maxQueue = positiveInt('maxQueue', opts.maxQueue ?? 50_000, 1);
    this.#spillAfter = positiveInt('spillAfterFailures', opts.spillAfterFailures ?? 3, 1);
    this.#backoffBase = positiveInt('backoffBaseMs', opts.backoffBaseMs ?? 100, 1);
    this.#backoffMax = positiveInt('backoffMaxMs', opts.backoffMaxMs ?? 5_000, this.#backoffBase);
    this.#flushTimeout = positiveInt('flushTimeoutMs', opts.flushTimeoutMs ?? 10_000, 0);
    this.#backlog = new SpoolBacklog({
      dataDir: opts.dataDir,
      log: this.#log,
      putBack: (records) => this.#queue.prepend(records),
      blockMs: this.#backoffMax,
      onSpill: opts.onSpill ?? null,
    });
    this.#committer = new BatchCommitter(sink, {
      log: this.#log,
      onFlush: opts.onFlush ?? null,
      onCommit: opts.onCommit ?? null,
      onRefused: opts.onRefused ?? null,
      reject: (lines, why) => this.#backlog.reject(lines, why),
    });
    // In per-tick mode the timer only paces retries and spool drains.
    this.#timer = setInterval(this.#onTick, this.#intervalMs > 0 ? this.#intervalMs : this.#backoffBase);
    this.#timer.unref();
    if (this.#backlog.hasFiles) this.#armImmediate();
  }

  /** Queues one record. O(1), never awaits, never throws. */
  enqueue(record: UsageRecordInsert): void {
    if (typeof record !== 'object' || record === null) {
      // Only an untyped caller can get here; the request is over, so log it.
      this.#log.error({ record }, 'usage writer: enqueue of a non-record ignored');
      return;
    }
    if (this.#closed) {
      this.#spillLate(record);
      return;
    }
    const n = this.#queue.push(record);
    if (n > this.#maxQueue) this.#spillQueue();
    else if (n >= this.#batchSize || this.#intervalMs === 0) this.#armImmediate();
  }

  #armImmediate(): void {
    if (this.#immediateArmed || this.#pumping !== null || this.#nextAttemptAt !== 0) return;
    this.#immediateArmed = true;
    setImmediate(this.#onImmediate);
  }

  #startPump(drainAll: boolean): Promise<void> {
    if (this.#pumping === null) {
      this.#pumping = this.#pump(drainAll).finally(() => {
        this.#pumping = null;
        // Records that filled a batch while this pump was busy.
        if (!this.#closed && (this.#queue.length >= this.#batchSize || (this.#intervalMs === 0 && this.#queue.length > 0))) {
          this.#armImmediate();
        }
      });
    }
    return this.#pumping;
  }

  /**
   * Takes the next batch: a failed one first, then the queue, then the
   * oldest spool file. Sets `#fromSpool` to tell which.
   */
  async #nextBatch(): Promise<UsageRecordInsert[] | null> {
    this.#fromSpool = false;
    if (this.#retry !== null) return this.#retry;
    if (this.#queue.length > 0) {
      const batch = this.#queue.take(this.#batchSize);
      for (let i = 0; i < batch.length; i++) normalizeRecord(batch[i]);
      return batch;
    }
    const batch = await this.#backlog.nextBatch(this.#batchSize);
    this.#fromSpool = batch !== null;
    return batch;
  }

  /** Never rejects: whatever goes wrong becomes a logged failure and a backoff. */
  async #pump(drainAll: boolean): Promise<void> {
    try {
      await this.#pumpLoop(drainAll);
    } catch (err) {
      this.#failures++;
      this.#backoff();
      this.#log.error({ err }, 'usage writer: unexpected error; retrying later');
    }
  }

  async #pumpLoop(drainAll: boolean): Promise<void> {
    for (;;) {
      const batch = await this.#nextBatch();
      if (batch === null) return;
      const fromSpool = this.#fromSpool;
      if (batch.length > 0 && !(await this.#commit(batch, fromSpool))) return;
      if (fromSpool) await this.#backlog.committed(batch.length);
      else if (batch === this.#retry) this.#retry = null;
      if (this.#closed && !drainAll) return;
      // Keep going while a full batch waits or the spool has work; a partial
      // batch waits for the next tick so that batches fill up under load.
      const more = drainAll || this.#queue.length >= this.#batchSize || this.#retry !== null || this.#backlog.hasFiles;
      if (!more) return;
    }
  }

  /**
   * One batch through the committer. False when it failed and the pump must
   * back off. The batch counts as in flight until the store answered for
   * every record in it, one-by-one retries included.
   */
  async #commit(batch: UsageRecordInsert[], fromSpool: boolean): Promise<boolean> {
    this.#inFlight = batch;
    this.#inFlightFromSpool = fromSpool;
    const result = await this.#committer.commit(batch);
    this.#inFlight = null;
    if (!result.ok) {
      this.#onFailure(batch, fromSpool, result.error);
      return false;
    }
    this.#consecutiveFailures = 0;
    this.#nextAttemptAt = 0;
    return true;
  }

  #onFailure(batch: UsageRecordInsert[], fromSpool: boolean, err: unknown): void {
    this.#failures++;
    const backoff = this.#backoff();
    if (!fromSpool) this.#retry = batch; // a spool batch simply stays where it is
    this.#log.warn({ err, records: batch.length, failures: this.#consecutiveFailures, retryInMs: backoff }, 'usage writer: flush failed');
    if (this.#consecutiveFailures >= this.#spillAfter) this.#spillQueue();
  }

  /** Counts a failure in a row and schedules the next attempt; returns the delay. */
  #backoff(): number {
    this.#consecutiveFailures++;
    const delay = Math.min(this.#backoffBase * 2 ** Math.min(this.#consecutiveFailures - 1, 20), this.#backoffMax);
    this.#nextAttemptAt = Date.now() + delay;
    return delay;
  }

  /** Moves the retry batch and the whole queue to a new spool file (written asynchronously). */
  #spillQueue(): void {
    if (this.#backlog.spillBlocked) return;
    const queued = this.#queue.take(this.#queue.length);
    const records = this.#retry === null ? queued : this.#retry.concat(queued);
    this.#retry = null;
    if (records.length > 0) this.#backlog.spill(records);
  }

  #spillLate(record: UsageRecordInsert): void {
    try {
      this.#backlog.spillSync(record);
    } catch (err) {
      this.#queue.push(record);
      this.#log.error({ err, requestId: record.requestId }, 'usage writer: closed and cannot spool a late record; kept in memory');
    }
  }

  #pending(): boolean {
    return this.#queue.length > 0 || this.#retry !== null || this.#backlog.hasFiles || this.#backlog.spilling > 0 || this.#inFlight !== null;
  }

  /**
   * Commits everything queued and spooled. Rejects after `timeoutMs` (the
   * writer's flushTimeoutMs by default), with everything still uncommitted
   * safely in the spool.
   */
  async flush(timeoutMs = this.#flushTimeout): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.#backlog.written();
      if (this.#pumping !== null) {
        const left = deadline - Date.now();
        if (left <= 0 || !(await raceTimeout(this.#pumping, left))) break;
        continue;
      }
      if (!this.#pending()) return;
      const now = Date.now();
      if (now >= deadline) break;
      if (now < this.#nextAttemptAt) {
        await sleep(Math.min(this.#nextAttemptAt, deadline) - now);
        continue;
      }
      await this.#startPump(true);
    }
    this.#spillEverything();
    await this.#backlog.written();
    throw new Error(`usage writer: the store did not take every record within ${timeoutMs} ms; ${this.#backlog.records} record(s) are in ${this.#backlog.dir}`);
  }

  /** Spools the queue and a batch still in flight (it may yet commit; a replay is harmless). */
  #spillEverything(): void {
    const stuck = this.#inFlight;
    // A retry batch in flight is spilled as #retry already; a spool batch is on disk.
    if (stuck !== null && !this.#inFlightFromSpool && stuck !== this.#retry) this.#queue.prepend(stuck);
    this.#backlog.unblock();
    this.#spillQueue();
  }

  /**
   * Final flush for shutdown: stops the timer, commits what it can until
   * `deadlineMs`, and spools the rest. Resolves either way; records that
   * arrive after it are spooled synchronously.
   */
  async close(deadlineMs = this.#flushTimeout): Promise<void> {
    clearInterval(this.#timer);
    try {
      await this.flush(deadlineMs);
    } catch (err) {
      this.#log.warn({ err }, 'usage writer: closed with records left in the spool');
    } finally {
      this.#closed = true;
    }
  }

  stats(): UsageWriterStats {
    return {
      queued: this.#queue.length + (this.#retry?.length ?? 0),
      spilling: this.#backlog.spilling,
      inFlight: this.#inFlight?.length ?? 0,
      spooledRecords: this.#backlog.records,
      flushedRecords: this.#committer.flushedRecords,
      flushes: this.#committer.flushes,
      lastFlushMs: this.#committer.lastFlushMs,
      failures: this.#failures,
      spills: this.#backlog.spills,
      rejected: this.#backlog.rejected,
    };
  }
}

/** True when `p` settled within `ms`; a ref'd timer, so that a shutdown flush keeps the process alive. */
async function raceTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
