/**
 * The batched usage writer: the hot path hands each finished request's
 * record to `enqueue` (O(1), no await, no throw); the writer commits records
 * in batches, ONE `applyBatch` transaction each (records + balance debits).
 *
 *   enqueue ──► queue ──(batchSize reached, or every flushIntervalMs)──► applyBatch
 *                 │                                         │ fails
 *                 │ > maxQueue                              ▼
 *                 └──────────────► spool files ◄── after spillAfterFailures
 *                                      │            failures in a row
 *                                      └── drained (oldest first) once the
 *                                          queue is empty and the store answers
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
 * - `close` flushes; when the store cannot be reached by the deadline,
 *   everything left (including a batch still in flight) goes to the spool.
 */
import type { UsageRepo } from '../store/usage-repo.ts';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import { normalizeRecord } from './usage-record.ts';
import { UsageSpool, type SpoolContents, type SpoolFile } from './usage-spool.ts';

/** Where batches go: the store's usage repo, or a wrapper of it. */
export type UsageSink = Pick<UsageRepo, 'applyBatch'>;

/** A pino-compatible logger; only warn and error are used. */
export interface WriterLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

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
  /** Called with applyBatch's user → balance delta after each commit (the credit ledger's pending debits). */
  onCommit?: (balanceDeltas: ReadonlyMap<number, number>) => void;
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

/**
 * A batch refused for its content, not for the store's health, so retrying
 * it cannot help: the store's own input check, PostgreSQL's data-exception
 * and integrity classes (SQLSTATE 22xxx, 23xxx), SQLite's equivalents.
 */
function isPermanent(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'StoreInputError') return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return /^2[23][0-9A-Z]{3}$/.test(code) || /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Batches usage records into the store, spilling to a local spool when it cannot keep up. */
export class UsageWriter {
  readonly #sink: UsageSink;
  readonly #spool: UsageSpool;
  readonly #log: WriterLog;
  readonly #onFlush: ((records: number, seconds: number) => void) | null;
  readonly #onSpill: ((records: number) => void) | null;
  readonly #onCommit: ((balanceDeltas: ReadonlyMap<number, number>) => void) | null;
  readonly #batchSize: number;
  readonly #intervalMs: number;
  readonly #maxQueue: number;
  readonly #spillAfter: number;
  readonly #backoffBase: number;
  readonly #backoffMax: number;
  readonly #flushTimeout: number;

  #queue: UsageRecordInsert[] = [];
  /** A batch taken from the queue whose applyBatch failed: retried before anything else. */
  #retry: UsageRecordInsert[] | null = null;
  /** The batch inside the running applyBatch (for stats, and to spool it on a deadline). */
  #inFlight: UsageRecordInsert[] | null = null;
  #inFlightFromSpool = false;
  /** Whether the batch `#nextBatch` last returned came from the spool. */
  #fromSpool = false;

  readonly #spoolFiles: SpoolFile[];
  /** The oldest spool file being drained: its records and how many are committed. */
  #drain: { file: SpoolFile; records: UsageRecordInsert[]; done: number } | null = null;
  #spillChain: Promise<void> = Promise.resolve();
  #spilling = 0;
  #spillBlockedUntil = 0;

  #pumping: Promise<void> | null = null;
  #immediateArmed = false;
  #consecutiveFailures = 0;
  #nextAttemptAt = 0;
  #closed = false;
  readonly #timer: NodeJS.Timeout;

  #spooledRecords = 0;
  #flushedRecords = 0;
  #flushes = 0;
  #lastFlushMs = 0;
  #failures = 0;
  #spills = 0;
  #rejected = 0;

  // Bound once, so that arming a flush allocates no closure.
  readonly #onImmediate = (): void => {
    this.#immediateArmed = false;
    // While backing off, the interval timer makes the next attempt.
    if (Date.now() >= this.#nextAttemptAt) void this.#startPump(false);
  };
  readonly #onTick = (): void => {
    if (this.#pumping !== null || Date.now() < this.#nextAttemptAt) return;
    if (this.#queue.length > 0 || this.#retry !== null || this.#spoolFiles.length > 0) void this.#startPump(false);
  };

  /**
   * Opens the spool (left-over files from an earlier run are drained first
   * thing) and starts the flush timer, which does not keep the process alive.
   */
  constructor(sink: UsageSink, opts: UsageWriterOptions) {
    this.#sink = sink;
    this.#log = opts.log ?? NOOP_LOG;
    this.#onFlush = opts.onFlush ?? null;
    this.#onSpill = opts.onSpill ?? null;
    this.#onCommit = opts.onCommit ?? null;
    this.#batchSize = positiveInt('batchSize', opts.batchSize ?? 512, 1);
    this.#intervalMs = positiveInt('flushIntervalMs', opts.flushIntervalMs ?? 50, 0);
    this.#maxQueue = positiveInt('maxQueue', opts.maxQueue ?? 50_000, 1);
    this.#spillAfter = positiveInt('spillAfterFailures', opts.spillAfterFailures ?? 3, 1);
    this.#backoffBase = positiveInt('backoffBaseMs', opts.backoffBaseMs ?? 100, 1);
    this.#backoffMax = positiveInt('backoffMaxMs', opts.backoffMaxMs ?? 5_000, this.#backoffBase);
    this.#flushTimeout = positiveInt('flushTimeoutMs', opts.flushTimeoutMs ?? 10_000, 0);
    this.#spool = new UsageSpool(opts.dataDir);
    this.#spoolFiles = this.#spool.openExisting();
    for (const f of this.#spoolFiles) this.#spooledRecords += f.records;
    // In per-tick mode the timer only paces retries and spool drains.
    this.#timer = setInterval(this.#onTick, this.#intervalMs > 0 ? this.#intervalMs : this.#backoffBase);
    this.#timer.unref();
    if (this.#spoolFiles.length > 0) this.#armImmediate();
  }

  /**
   * Queues one record. O(1) amortised, never awaits, never throws; repairs
   * non-integer numbers in the record (see usage-record.ts).
   */
  enqueue(record: UsageRecordInsert): void {
    try {
      normalizeRecord(record);
      if (this.#closed) {
        this.#spillLate(record);
        return;
      }
      const n = this.#queue.push(record);
      if (n > this.#maxQueue) this.#spillQueue();
      else if (n >= this.#batchSize || this.#intervalMs === 0) this.#armImmediate();
    } catch (err) {
      // Only a caller passing a non-object can get here; the request is over, so log it.
      this.#log.error({ err }, 'usage writer: enqueue failed');
    }
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
    const q = this.#queue;
    if (q.length > 0) {
      if (q.length <= this.#batchSize) {
        this.#queue = [];
        return q;
      }
      return q.splice(0, this.#batchSize);
    }
    if (this.#drain === null) {
      const file = this.#spoolFiles[0];
      if (file === undefined) return null;
      let contents: SpoolContents;
      try {
        contents = await this.#spool.read(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // Removed by hand (or by another process draining the same spool).
        this.#spoolFiles.shift();
        this.#spooledRecords -= file.records;
        this.#log.warn({ file: file.path }, 'usage writer: a spool file vanished before it was drained');
        return this.#nextBatch();
      }
      const { records, bad } = contents;
      if (bad.length > 0) await this.#reject(bad, `${bad.length} unreadable line(s) in spool file ${file.path}`);
      this.#drain = { file, records, done: 0 };
    }
    this.#fromSpool = true;
    const d = this.#drain;
    return d.records.slice(d.done, d.done + this.#batchSize);
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
      if (fromSpool) await this.#afterDrainBatch(batch.length);
      else if (batch === this.#retry) this.#retry = null;
      if (this.#closed && !drainAll) return;
      // Keep going while a full batch waits or the spool has work; a partial
      // batch waits for the next tick so that batches fill up under load.
      const more = drainAll || this.#queue.length >= this.#batchSize || this.#retry !== null || this.#spoolFiles.length > 0;
      if (!more) return;
    }
  }

  /** One applyBatch. False when it failed and the pump must back off. */
  async #commit(batch: UsageRecordInsert[], fromSpool: boolean): Promise<boolean> {
    this.#inFlight = batch;
    this.#inFlightFromSpool = fromSpool;
    const t0 = performance.now();
    try {
      const { balanceDeltas } = await this.#sink.applyBatch(batch);
      this.#onCommit?.(balanceDeltas);
    } catch (err) {
      this.#inFlight = null;
      if (!isPermanent(err)) {
        this.#onFailure(batch, fromSpool, err);
        return false;
      }
      this.#log.warn({ err, records: batch.length }, 'usage writer: store refused a batch; retrying its records one by one');
      return this.#commitOneByOne(batch, fromSpool);
    }
    this.#inFlight = null;
    this.#lastFlushMs = performance.now() - t0;
    this.#onFlush?.(batch.length, this.#lastFlushMs / 1000);
    this.#flushes++;
    this.#flushedRecords += batch.length;
    this.#consecutiveFailures = 0;
    this.#nextAttemptAt = 0;
    return true;
  }

  async #afterDrainBatch(n: number): Promise<void> {
    const d = this.#drain!;
    d.done += n;
    if (d.done < d.records.length) return;
    this.#drain = null;
    this.#spoolFiles.shift();
    this.#spooledRecords -= d.file.records;
    try {
      await this.#spool.remove(d.file);
    } catch (err) {
      // Left on disk it is replayed at the next start, harmlessly.
      this.#log.warn({ err, file: d.file.path }, 'usage writer: cannot delete a drained spool file');
    }
  }

  /**
   * Isolates the records the store refuses: retrying a refused batch would
   * stall every record behind it, so each is tried alone and only the
   * refused ones go aside (normalizeRecord makes this rare). A transient
   * failure midway fails the whole batch; re-committing the records already
   * stored is harmless.
   */
  async #commitOneByOne(batch: UsageRecordInsert[], fromSpool: boolean): Promise<boolean> {
    const refused: string[] = [];
    let reason = '';
    for (const r of batch) {
      try {
        const { balanceDeltas } = await this.#sink.applyBatch([r]);
        this.#onCommit?.(balanceDeltas);
      } catch (err) {
        if (!isPermanent(err)) {
          this.#onFailure(batch, fromSpool, err);
          return false;
        }
        refused.push(JSON.stringify(r));
        reason = (err as Error).message;
      }
    }
    this.#flushes++;
    this.#flushedRecords += batch.length - refused.length;
    this.#consecutiveFailures = 0;
    this.#nextAttemptAt = 0;
    if (refused.length > 0) await this.#reject(refused, `store refused ${refused.length} record(s): ${reason}`);
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
    if (Date.now() < this.#spillBlockedUntil) return;
    let records = this.#queue;
    this.#queue = [];
    if (this.#retry !== null) {
      records = this.#retry.concat(records);
      this.#retry = null;
    }
    if (records.length === 0) return;
    this.#spilling += records.length;
    this.#spillChain = this.#spillChain.then(() => this.#writeSpill(records));
  }

  async #writeSpill(records: UsageRecordInsert[]): Promise<void> {
    try {
      const file = await this.#spool.write(records);
      this.#spoolFiles.push(file);
      this.#spooledRecords += file.records;
      this.#spills++;
      this.#onSpill?.(file.records);
    } catch (err) {
      // Back into memory, ahead of newer records; no new spill for a while so
      // that a full disk does not turn every enqueue into a failing write.
      this.#queue = records.concat(this.#queue);
      this.#spillBlockedUntil = Date.now() + this.#backoffMax;
      this.#log.error({ err, records: records.length }, 'usage writer: cannot write the spool; records kept in memory');
    } finally {
      this.#spilling -= records.length;
    }
  }

  #spillLate(record: UsageRecordInsert): void {
    try {
      const file = this.#spool.writeSync([record]);
      this.#spoolFiles.push(file);
      this.#spooledRecords += 1;
    } catch (err) {
      this.#queue.push(record);
      this.#log.error({ err, requestId: record.requestId }, 'usage writer: closed and cannot spool a late record; kept in memory');
    }
  }

  async #reject(lines: string[], why: string): Promise<void> {
    this.#rejected += lines.length;
    let where = '(could not write it)';
    try {
      where = await this.#spool.reject(lines);
    } catch (err) {
      this.#log.error({ err }, 'usage writer: cannot write the rejected file');
    }
    this.#log.error({ file: where, lines: lines.length }, `usage writer: ${why}; moved aside`);
  }

  #pending(): boolean {
    return this.#queue.length > 0 || this.#retry !== null || this.#spoolFiles.length > 0 || this.#spilling > 0 || this.#inFlight !== null;
  }

  /**
   * Commits everything queued and spooled. Rejects after `timeoutMs` (the
   * writer's flushTimeoutMs by default), with everything still uncommitted
   * safely in the spool.
   */
  async flush(timeoutMs = this.#flushTimeout): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.#spillChain;
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
    await this.#spillChain;
    throw new Error(`usage writer: the store did not take every record within ${timeoutMs} ms; ${this.#spooledRecords} record(s) are in ${this.#spool.dir}`);
  }

  /** Spools the queue and a batch still in flight (it may yet commit; a replay is harmless). */
  #spillEverything(): void {
    const stuck = this.#inFlight;
    // A retry batch in flight is spilled as #retry already; a spool batch is on disk.
    if (stuck !== null && !this.#inFlightFromSpool && stuck !== this.#retry) {
      this.#queue = stuck.concat(this.#queue);
    }
    this.#spillBlockedUntil = 0;
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
      spilling: this.#spilling,
      inFlight: this.#inFlight?.length ?? 0,
      spooledRecords: this.#spooledRecords,
      flushedRecords: this.#flushedRecords,
      flushes: this.#flushes,
      lastFlushMs: this.#lastFlushMs,
      failures: this.#failures,
      spills: this.#spills,
      rejected: this.#rejected,
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
