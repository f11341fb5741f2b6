/**
 * The store a command acts on: opened from the config like `serve` does, and
 * named on stderr (and in --json objects, see output.ts) so an operator can
 * see which one was used — a deployment's SQLite file, or PostgreSQL.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config.ts';
import { openStore, type Store } from '../store/store.ts';
import { announceStore, UsageError } from './output.ts';

/** `sqlite /abs/path/tollgate.db`, or `postgres postgres://user@host/db (schema s)` without the password. */
export function storeLabel(config: Config): string {
  if (config.databaseUrl === null) return `sqlite ${resolve(config.dataDir, 'tollgate.db')}`;
  let shown = 'postgres (DATABASE_URL)';
  try {
    const url = new URL(config.databaseUrl);
    url.password = '';
    shown = url.toString();
  } catch {
    // A URL the pg driver accepts but WHATWG does not: do not risk printing a password.
  }
  return `postgres ${shown} (schema ${config.postgres.schema})`;
}

/** Opens the configured store for one CLI command and says which one it is. */
export function openLocalStore(config: Config): Promise<Store> {
  announceStore(storeLabel(config));
  return openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, sqlite: config.sqlite, postgres: { poolSize: 2, schema: config.postgres.schema } });
}

/**
 * Runs `fn` on the local store of the config `serve` uses, for the command groups
 * that have no remote mode (`what`: e.g. 'service'; remotely, `adminPath` of the
 * admin API does the same). Running servers follow through the change feed.
 */
export async function withLocalStore<T>(cmd: Command, what: string, adminPath: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const globals = cmd.optsWithGlobals();
  if (globals.url ?? process.env.TOLLGATE_URL) throw new UsageError(`${what} commands work on the local store only (use the admin API ${adminPath} remotely)`);
  const store = await openLocalStore(loadConfig({ file: globals.config ?? null }));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
