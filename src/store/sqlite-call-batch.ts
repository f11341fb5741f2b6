/**
 * The SQLite fast path of ServiceRepo.insertCalls: one prepared INSERT run per
 * record inside one better-sqlite3 transaction, instead of Kysely building
 * (and SQLite preparing) a new multi-row INSERT for every batch. The same
 * reason and shape as sqlite-usage-batch.ts: under the service hop load the
 * per-batch query building showed up on both nodes' profiles.
 */
import type { Database as SqliteDatabase } from 'better-sqlite3';
import type { ServiceCallsTable } from './service-schema.ts';

/** A call record (service-repo.ts's ServiceCall). */
type ServiceCall = Omit<ServiceCallsTable, 'id'>;

export class SqliteCallBatch {
  readonly #db: SqliteDatabase;
  readonly #insert: (calls: readonly ServiceCall[]) => void;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    const insert = db.prepare(`insert into service_calls (ts, user_id, service, rule_id, method, path, status, bytes_in, bytes_out, latency_ms)
      values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#insert = db.transaction((calls: readonly ServiceCall[]) => {
      for (const c of calls) insert.run(c.ts, c.user_id, c.service, c.rule_id, c.method, c.path, c.status, c.bytes_in, c.bytes_out, c.latency_ms);
    });
  }

  /** False while a Kysely transaction holds the connection (see SqliteUsageBatch.usable). */
  get usable(): boolean {
    return !this.#db.inTransaction;
  }

  insert(calls: readonly ServiceCall[]): void {
    this.#insert(calls);
  }
}
