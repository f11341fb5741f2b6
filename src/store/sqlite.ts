/**
 * The embedded SQLite backend: one better-sqlite3 connection per process in
 * WAL mode, so the server and a CLI invocation can use the same file at once
 * (readers never block; writers queue on busy_timeout).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { StoreInputError } from './errors.ts';
import type { Database } from './schema.ts';

/** SQLite tuning; see `StoreOptions.sqlite`. */
export interface SqliteOptions {
  synchronous?: 'OFF' | 'NORMAL' | 'FULL';
  cacheSizeKiB?: number;
  mmapSizeBytes?: number;
  busyTimeoutMs?: number;
}

const SYNC_MODES: ReadonlySet<string> = new Set(['OFF', 'NORMAL', 'FULL']);

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new StoreInputError('invalid', `sqlite.${name} must be a non-negative integer`);
  return v;
}

/** Opens (creating if needed) `${dataDir}/tollgate.db` and applies the pragmas; returns Kysely and the raw handle (for the usage-batch fast path). */
export function openSqlite(dataDir: string, opts: SqliteOptions = {}): { db: Kysely<Database>; raw: SqliteDatabase.Database } {
  const synchronous = opts.synchronous ?? 'NORMAL';
  if (!SYNC_MODES.has(synchronous)) throw new StoreInputError('invalid', 'sqlite.synchronous must be OFF, NORMAL or FULL');
  const cacheKiB = nonNegativeInt('cacheSizeKiB', opts.cacheSizeKiB ?? 16384);
  const mmap = nonNegativeInt('mmapSizeBytes', opts.mmapSizeBytes ?? 268435456);
  const busy = nonNegativeInt('busyTimeoutMs', opts.busyTimeoutMs ?? 5000);

  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'tollgate.db');
  const db = new SqliteDatabase(file, { timeout: busy });
  try {
    // busy_timeout first: switching to WAL needs a lock that another process
    // opening the same fresh file may hold for a moment.
    db.pragma(`busy_timeout = ${busy}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new Error(`SQLite refused WAL mode for ${file} (got ${String(mode)})`);
    // NORMAL is durable across process crashes in WAL mode; only an OS crash
    // or power loss can drop the last commits.
    db.pragma(`synchronous = ${synchronous}`);
    // Negative cache_size is in KiB rather than pages.
    db.pragma(`cache_size = -${cacheKiB}`);
    db.pragma(`mmap_size = ${mmap}`);
    db.pragma('foreign_keys = ON');
  } catch (err) {
    db.close();
    throw err;
  }
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: db }) }), raw: db };
}

/**
 * Runs `fn` inside BEGIN IMMEDIATE. Kysely's SQLite adapter takes no
 * migration lock (it assumes one process), so two processes opening a fresh
 * file together could both apply a migration. The immediate transaction makes
 * the second wait on busy_timeout and then find nothing left to do; it works
 * because Kysely does not wrap SQLite migrations in a transaction of its own
 * and the dialect has exactly one connection.
 */
export async function withImmediateTransaction<T>(db: Kysely<Database>, fn: () => Promise<T>): Promise<T> {
  await sql`begin immediate`.execute(db);
  try {
    const out = await fn();
    await sql`commit`.execute(db);
    return out;
  } catch (err) {
    await sql`rollback`.execute(db).catch(() => undefined);
    throw err;
  }
}
