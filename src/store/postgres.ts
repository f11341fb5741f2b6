/**
 * The PostgreSQL backend for scale-out: a pg.Pool shared by all repositories,
 * with every connection's search_path set to the configured schema.
 */
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { StoreInputError } from './errors.ts';
import type { Database } from './schema.ts';

/** PostgreSQL tuning; see `StoreOptions.postgres`. */
export interface PostgresOptions {
  poolSize?: number;
  schema?: string;
}

const INT8_OID = 20;
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * int8 (ids, times, money) as JS numbers instead of pg's default strings. All
 * values Tollgate stores stay far below 2^53; a larger one is a bug and fails
 * loudly rather than being rounded.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} is outside the safe integer range`);
  return n;
}

// Per pool rather than pg.types.setTypeParser, so that other pg users in the
// same process keep their own parsing.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): any {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return pg.types.getTypeParser(oid, format);
  },
};

/** Returns the schema name to use, or throws when it is not a plain identifier. */
export function checkSchemaName(schema: string): string {
  // Only plain identifiers: the name goes into a startup option and DDL, where
  // quoting rules differ; nothing legitimate needs more.
  if (!SCHEMA_NAME.test(schema)) throw new StoreInputError('invalid', `postgres.schema "${schema}" must be a plain identifier`);
  return schema;
}

/**
 * Creates the schema if missing, then the Kysely instance over a pool whose
 * connections use it. The search_path is a connection startup option, not a
 * SET from the pool's 'connect' event: it applies before the first query
 * without an extra round trip, and cannot race with it.
 */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<{ db: Kysely<Database>; pool: pg.Pool }> {
  const schema = checkSchemaName(opts.schema ?? 'public');
  const max = opts.poolSize ?? 10;
  if (!Number.isSafeInteger(max) || max < 1) throw new StoreInputError('invalid', 'postgres.poolSize must be a positive integer');

  const pool = new pg.Pool({ connectionString: url, max, options: `-c search_path=${schema}`, types });
  // An idle connection dropped by the server (restart, failover) is emitted
  // on the pool, and an unhandled 'error' event would kill the process. The
  // pool discards that client by itself; the next query opens a new one and
  // reports any lasting outage to its caller.
  pool.on('error', () => undefined);
  // A connection that dies while checked out (between two statements of a
  // transaction) emits 'error' on the client, which neither pg-pool nor Kysely
  // listens for: without this listener the process crashes. The failing query
  // still rejects, so the caller (e.g. the usage writer) retries.
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await pool.query(`create schema if not exists "${schema}"`);
  } catch (err) {
    // Two processes creating the same schema at once: one loses the race on
    // pg_namespace's unique index even with IF NOT EXISTS.
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') {
      await pool.end();
      throw err;
    }
  }
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool };
}
