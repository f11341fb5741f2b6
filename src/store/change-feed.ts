/**
 * The cross-process change feed. Every mutation that a running server must
 * notice appends one `change_events` row in the same transaction as the
 * mutation; servers poll `since(lastId)` and drop or reload what changed.
 *
 * Polling by id is only correct if ids become visible in id order. SQLite
 * has one writer at a time, so that holds by construction. On PostgreSQL an
 * identity value is taken at INSERT but becomes visible at COMMIT, so two
 * concurrent appenders could commit out of order and a poller that already
 * moved past the higher id would never see the lower one. Appenders
 * therefore take one transaction-scoped advisory lock just before the insert:
 * the next appender cannot draw an id until the previous one has committed.
 * Mutations are admin actions (rare), so the serialisation costs nothing that
 * matters, and the lock is the last thing a transaction takes (no deadlock).
 */
import { sql, type Kysely } from 'kysely';
import type { Database, Dialect } from './schema.ts';

/** Kinds of change the gateway reacts to. */
export type ChangeKind = 'user.balance' | 'user.disabled' | 'key.revoked' | 'key.changed' | 'channels' | 'prices' | 'limits' | 'budgets' | 'filters' | 'proxies';

/** One row of the change feed. */
export interface ChangeEvent {
  id: number;
  ts: number;
  kind: string;
  subject: string;
  delta: number;
}

/** Arbitrary, fixed key of the PostgreSQL advisory lock that orders appends ("TGCF"). */
const FEED_LOCK_KEY = 0x54474346;

/**
 * Appends one event inside the caller's transaction `trx` and returns its id.
 * Call it as the last statement of the transaction (see the file comment).
 */
export async function appendChange(
  trx: Kysely<Database>,
  dialect: Dialect,
  kind: string,
  subject: string,
  delta = 0,
): Promise<number> {
  if (dialect === 'postgres') {
    await sql`select pg_advisory_xact_lock(${sql.lit(FEED_LOCK_KEY)})`.execute(trx);
  }
  const row = await trx
    .insertInto('change_events')
    .values({ ts: Date.now(), kind, subject, delta })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Reader and stand-alone writer of the change feed. */
export class EventRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Appends an event in its own transaction (for callers outside a repo mutation). */
  append(kind: string, subject: string, delta = 0): Promise<number> {
    return this.#db.transaction().execute((trx) => appendChange(trx, this.#dialect, kind, subject, delta));
  }

  /** Events with id > `afterId`, oldest first, at most `limit`. */
  since(afterId: number, limit = 1000): Promise<ChangeEvent[]> {
    return this.#db
      .selectFrom('change_events')
      .select(['id', 'ts', 'kind', 'subject', 'delta'])
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Id of the newest event, 0 when the feed is empty: a server starts polling from here. */
  async latestId(): Promise<number> {
    const row = await this.#db
      .selectFrom('change_events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return row?.id ?? 0;
  }
}
