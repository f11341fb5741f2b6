/**
 * The usage writer's records on disk. A spill writes records the store
 * cannot take (store down or slow, shutdown deadline) to a new spool file;
 * the drain reads the oldest file back, one batch at a time, for the writer
 * to commit, and deletes the file once all of it is committed.
 *
 *   spill(records) ─► chain of writes ─► files: [oldest, …, newest] ─► nextBatch(n) ─► writer commits
 *        │                                  ▲                              │
 *        │ write fails                      │ spillSync (after close)      ▼
 *        ▼                                                           committed(n): file done → unlink
 *   putBack(records): to the front of the writer's queue,
 *   and no new spill for blockMs
 *
 * Invariants:
 * - A file joins `files` only once it is written and fsynced, so the drain
 *   never reads a file that is still being written.
 * - Spills are written one after another, so files are named (and drained)
 *   in spill order.
 * - A file is deleted only after every record in it committed; replaying it
 *   after a crash in between is harmless (the store skips known request ids).
 * - Nothing is dropped: a failed write hands its records back, and lines that
 *   can never be stored go to a rejected-*.jsonl file, not away.
 */
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import { normalizeRecord } from './usage-record.ts';
import { UsageSpool, type SpoolContents, type SpoolFile } from './usage-spool.ts';

/** A pino-compatible logger; only warn and error are used. */
export interface WriterLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SpoolBacklogOptions {
  /** The spool lives in `${dataDir}/spool`. */
  dataDir: string;
  log: WriterLog;
  /** Takes back the records of a spill that could not be written, to keep them ahead of newer ones. */
  putBack: (records: UsageRecordInsert[]) => void;
  /** After a failed spill, refuse new spills this long: a full disk must not turn every flush into a failing write. */
  blockMs: number;
  /** Called with the number of records each spill wrote (metrics). */
  onSpill: ((records: number) => void) | null;
}

/** Spool files waiting to be committed, and the spills and drain that fill and empty them. */
export class SpoolBacklog {
  readonly #spool: UsageSpool;
  readonly #log: WriterLog;
  readonly #putBack: (records: UsageRecordInsert[]) => void;
  readonly #blockMs: number;
  readonly #onSpill: ((records: number) => void) | null;

  /** Oldest first; the first one is the file being drained. */
  readonly #files: SpoolFile[];
  /** The oldest file's records once read, and how many of them are committed. */
  #drain: { file: SpoolFile; records: UsageRecordInsert[]; done: number } | null = null;
  #chain: Promise<void> = Promise.resolve();
  #spilling = 0;
  #blockedUntil = 0;
  #records = 0;
  #spills = 0;
  #rejected = 0;

  /** Creates the spool directory and lists files left by an earlier run (synchronous: start-up only). */
  constructor(opts: SpoolBacklogOptions) {
    this.#spool = new UsageSpool(opts.dataDir);
    this.#log = opts.log;
    this.#putBack = opts.putBack;
    this.#blockMs = opts.blockMs;
    this.#onSpill = opts.onSpill;
    this.#files = this.#spool.openExisting();
    for (const f of this.#files) this.#records += f.records;
  }

  /** The spool directory. */
  get dir(): string {
    return this.#spool.dir;
  }

  /** Whether spool files wait to be drained. */
  get hasFiles(): boolean {
    return this.#files.length > 0;
  }

  /** Records in spool files, not yet committed. */
  get records(): number {
    return this.#records;
  }

  /** Records being written to a spool file right now. */
  get spilling(): number {
    return this.#spilling;
  }

  /** Spill writes that succeeded. */
  get spills(): number {
    return this.#spills;
  }

  /** Lines or records moved to a rejected-*.jsonl file. */
  get rejected(): number {
    return this.#rejected;
  }

  /** True for blockMs after a failed spill. */
  get spillBlocked(): boolean {
    return Date.now() < this.#blockedUntil;
  }

  /** Allows spills again at once (the shutdown deadline spills whatever happens). */
  unblock(): void {
    this.#blockedUntil = 0;
  }

  /** Writes `records` to a new spool file, after the spills before it (asynchronously; see `written`). */
  spill(records: UsageRecordInsert[]): void {
    this.#spilling += records.length;
    this.#chain = this.#chain.then(() => this.#write(records));
  }

  /** Resolves when every spill started so far has been written (or handed back). */
  written(): Promise<void> {
    return this.#chain;
  }

  async #write(records: UsageRecordInsert[]): Promise<void> {
    try {
      for (let i = 0; i < records.length; i++) normalizeRecord(records[i]);
      const file = await this.#spool.write(records);
      this.#files.push(file);
      this.#records += file.records;
      this.#spills++;
      this.#onSpill?.(file.records);
    } catch (err) {
      this.#putBack(records);
      this.#blockedUntil = Date.now() + this.#blockMs;
      this.#log.error({ err, records: records.length }, 'usage writer: cannot write the spool; records kept in memory');
    } finally {
      this.#spilling -= records.length;
    }
  }

  /**
   * Writes one record to its own spool file synchronously, for a record that
   * arrives after the writer closed: there is no later tick to wait for.
   * Throws when the file cannot be written.
   */
  spillSync(record: UsageRecordInsert): void {
    normalizeRecord(record);
    const file = this.#spool.writeSync([record]);
    this.#files.push(file);
    this.#records += file.records;
  }

  /**
   * The next batch of at most `max` records from the oldest file (possibly
   * empty when none of its lines was readable), or null when there is no
   * file. Unreadable lines are moved aside the first time the file is read.
   */
  async nextBatch(max: number): Promise<UsageRecordInsert[] | null> {
    while (this.#drain === null) {
      const file = this.#files[0];
      if (file === undefined) return null;
      let contents: SpoolContents;
      try {
        contents = await this.#spool.read(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // Removed by hand (or by another process draining the same spool).
        this.#files.shift();
        this.#records -= file.records;
        this.#log.warn({ file: file.path }, 'usage writer: a spool file vanished before it was drained');
        continue;
      }
      const { records, bad } = contents;
      if (bad.length > 0) await this.reject(bad, `${bad.length} unreadable line(s) in spool file ${file.path}`);
      this.#drain = { file, records, done: 0 };
    }
    const d = this.#drain;
    return d.records.slice(d.done, d.done + max);
  }

  /** Records that `n` records of the last batch committed; deletes the file once all of it is. */
  async committed(n: number): Promise<void> {
    const d = this.#drain;
    if (d === null) return;
    d.done += n;
    if (d.done < d.records.length) return;
    this.#drain = null;
    this.#files.shift();
    this.#records -= d.file.records;
    try {
      await this.#spool.remove(d.file);
    } catch (err) {
      // Left on disk it is replayed at the next start, harmlessly.
      this.#log.warn({ err, file: d.file.path }, 'usage writer: cannot delete a drained spool file');
    }
  }

  /** Moves what can never be stored to a rejected-*.jsonl file, and logs where. */
  async reject(lines: string[], why: string): Promise<void> {
    this.#rejected += lines.length;
    let where = '(could not write it)';
    try {
      where = await this.#spool.reject(lines);
    } catch (err) {
      this.#log.error({ err }, 'usage writer: cannot write the rejected file');
    }
    this.#log.error({ file: where, lines: lines.length }, `usage writer: ${why}; moved aside`);
  }
}
