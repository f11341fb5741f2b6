/**
 * The usage writer's local spool: records that could not reach the store
 * (store slow or down, shutdown without a store) are written to
 * `${dataDir}/spool/usage-<ms>-<seq>-<pid>.jsonl`, one JSON record per line.
 *
 * Each spill writes one new file and fsyncs it (and the directory, so the
 * file's name survives a crash too) before the records leave memory: one
 * fsync per spill, not per record. Files are never rewritten; a file is
 * deleted only after every record in it was committed. Replaying a file
 * twice (a crash between the commit and the unlink) is harmless because the
 * store skips request ids it already holds.
 *
 * Names sort by creation time, so draining in name order is oldest first.
 * A file joins the drain list only once its write completed, so the drain
 * never reads a file that is still being written.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { UsageRecordInsert } from '../store/usage-columns.ts';
import { parseRecordLine } from './usage-record.ts';

/** One spool file waiting to be drained. */
export interface SpoolFile {
  readonly path: string;
  /** Lines in it (records, plus any unreadable ones). */
  readonly records: number;
}

/** The records of one spool file, read back. */
export interface SpoolContents {
  records: UsageRecordInsert[];
  /** Lines that were not a valid record (a torn last line, a hand edit). */
  bad: string[];
}

const NAME = /^usage-\d+-\d+-\d+\.jsonl$/;

let seq = 0;

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  // A last line without its newline was cut by a crash mid-write; it still
  // counts, so that the stats show it until the drain reports it as bad.
  if (text.length > 0 && text[text.length - 1] !== '\n') n++;
  return n;
}

function serialize(records: readonly UsageRecordInsert[]): string {
  let out = '';
  for (let i = 0; i < records.length; i++) out += JSON.stringify(records[i]) + '\n';
  return out;
}

/** File operations of the spool directory. */
export class UsageSpool {
  readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'spool');
  }

  /** Creates the directory and lists files left by earlier runs, oldest first (sync: start-up only). */
  openExisting(): SpoolFile[] {
    mkdirSync(this.dir, { recursive: true });
    const names = readdirSync(this.dir).filter((n) => NAME.test(n)).sort();
    return names.map((n) => {
      const path = join(this.dir, n);
      return { path, records: countLines(readFileSync(path, 'utf8')) };
    });
  }

  #nextPath(): string {
    seq = (seq + 1) % 1_000_000;
    const name = `usage-${String(Date.now()).padStart(15, '0')}-${String(seq).padStart(6, '0')}-${process.pid}.jsonl`;
    return join(this.dir, name);
  }

  /** Writes `records` to a new file, durably, and returns it. */
  async write(records: readonly UsageRecordInsert[]): Promise<SpoolFile> {
    const path = this.#nextPath();
    const fh = await open(path, 'wx');
    try {
      await fh.writeFile(serialize(records), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.#syncDir();
    return { path, records: records.length };
  }

  /**
   * The synchronous twin of `write`, for records that arrive after the
   * writer closed (a late request finishing during exit): there is no later
   * tick to wait for.
   */
  writeSync(records: readonly UsageRecordInsert[]): SpoolFile {
    const path = this.#nextPath();
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, serialize(records));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return { path, records: records.length };
  }

  /** Reads a file back; unreadable lines are returned apart, not dropped. */
  async read(file: SpoolFile): Promise<SpoolContents> {
    const text = await readFile(file.path, 'utf8');
    const records: UsageRecordInsert[] = [];
    const bad: string[] = [];
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      const r = parseRecordLine(line);
      if (r === null) bad.push(line);
      else records.push(r);
    }
    return { records, bad };
  }

  /** Deletes a drained file. */
  async remove(file: SpoolFile): Promise<void> {
    await unlink(file.path);
  }

  /**
   * Keeps what can never be stored (unparseable lines, records the store
   * refuses as invalid) in `rejected-<ms>.jsonl` for an operator to inspect:
   * it is not replayed, but it is not silently gone either.
   */
  async reject(lines: readonly string[]): Promise<string> {
    const path = join(this.dir, `rejected-${String(Date.now()).padStart(15, '0')}-${process.pid}.jsonl`);
    const fh = await open(path, 'a');
    try {
      await fh.writeFile(lines.join('\n') + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    return path;
  }

  async #syncDir(): Promise<void> {
    // fsync on a directory makes a new entry durable on Linux; some
    // platforms refuse it, which costs only that guarantee.
    try {
      const dh = await open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      /* not supported here */
    }
  }
}

/** Serialises records the way the spool stores them (exported for tests that plant a spool file). */
export const serializeRecords = serialize;
