/**
 * One batch of usage records into the store: one `applyBatch` transaction,
 * and, when the store refuses the batch for its content, each record alone so
 * that only the refused ones go aside. A transient failure (store down, lock
 * timeout) is returned to the writer, which keeps the batch and backs off.
 */
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import type { ApplyBatchResult, UsageRepo } from '../store/usage-repo.ts';
import type { WriterLog } from './spool-backlog.ts';

/** Where batches go: the store's usage repo, or a wrapper of it. */
export type UsageSink = Pick<UsageRepo, 'applyBatch'>;

/** A committed batch, or the transient error that stopped it. */
export type CommitResult = { ok: true } | { ok: false; error: unknown };

export interface BatchCommitterOptions {
  log: WriterLog;
  /** Called after each committed batch (metrics): records in it and seconds the commit took. */
  onFlush: ((records: number, seconds: number) => void) | null;
  /** Called after each commit with applyBatch's result and the records it was given (the credit ledgers' pending debits). */
  onCommit: ((result: ApplyBatchResult, records: readonly UsageRecordInsert[]) => void) | null;
  /** Records the store refused for good: their debits must be given back (the ledger holds them as pending). */
  onRefused: ((records: readonly UsageRecordInsert[]) => void) | null;
  /** Keeps records the store refused (as JSON lines) for an operator; see SpoolBacklog.reject. */
  reject: (lines: string[], why: string) => Promise<void>;
}

const OK: CommitResult = { ok: true };

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

/** Commits batches to the sink and counts them. */
export class BatchCommitter {
  readonly #sink: UsageSink;
  readonly #log: WriterLog;
  readonly #onFlush: ((records: number, seconds: number) => void) | null;
  readonly #onCommit: ((result: ApplyBatchResult, records: readonly UsageRecordInsert[]) => void) | null;
  readonly #reject: (lines: string[], why: string) => Promise<void>;
  readonly #onRefused: ((records: readonly UsageRecordInsert[]) => void) | null;

  #flushes = 0;
  #flushedRecords = 0;
  #lastFlushMs = 0;

  constructor(sink: UsageSink, opts: BatchCommitterOptions) {
    this.#sink = sink;
    this.#log = opts.log;
    this.#onFlush = opts.onFlush;
    this.#onCommit = opts.onCommit;
    this.#reject = opts.reject;
    this.#onRefused = opts.onRefused;
  }

  /** Batches committed. */
  get flushes(): number {
    return this.#flushes;
  }

  /** Records committed (replayed duplicates included). */
  get flushedRecords(): number {
    return this.#flushedRecords;
  }

  /** Duration of the last successful applyBatch, ms. */
  get lastFlushMs(): number {
    return this.#lastFlushMs;
  }

  /** One applyBatch; on a refusal for content, one per record. */
  async commit(batch: UsageRecordInsert[]): Promise<CommitResult> {
    const t0 = performance.now();
    try {
      const result = await this.#sink.applyBatch(batch);
      this.#onCommit?.(result, batch);
    } catch (err) {
      if (!isPermanent(err)) return { ok: false, error: err };
      this.#log.warn({ err, records: batch.length }, 'usage writer: store refused a batch; retrying its records one by one');
      return this.#commitOneByOne(batch);
    }
    this.#lastFlushMs = performance.now() - t0;
    this.#onFlush?.(batch.length, this.#lastFlushMs / 1000);
    this.#flushes++;
    this.#flushedRecords += batch.length;
    return OK;
  }

  /**
   * Isolates the records the store refuses: retrying a refused batch would
   * stall every record behind it, so each is tried alone and only the
   * refused ones go aside (normalizeRecord makes this rare). A transient
   * failure midway fails the whole batch; re-committing the records already
   * stored is harmless.
   */
  async #commitOneByOne(batch: UsageRecordInsert[]): Promise<CommitResult> {
    const refused: string[] = [];
    const refusedRecords: UsageRecordInsert[] = [];
    let reason = '';
    for (const r of batch) {
      try {
        const one = [r];
        const result = await this.#sink.applyBatch(one);
        this.#onCommit?.(result, one);
      } catch (err) {
        if (!isPermanent(err)) return { ok: false, error: err };
        refused.push(JSON.stringify(r));
        refusedRecords.push(r);
        reason = (err as Error).message;
      }
    }
    this.#flushes++;
    this.#flushedRecords += batch.length - refused.length;
    if (refused.length > 0) {
      // No stored row, so no stored debit: the live balance must not keep one either.
      this.#onRefused?.(refusedRecords);
      await this.#reject(refused, `store refused ${refused.length} record(s): ${reason}`);
    }
    return OK;
  }
}
