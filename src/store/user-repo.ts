/**
 * Users: accounts that own client keys and a balance in micro-credits.
 */
import type { Kysely, Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError, isUniqueViolation } from './errors.ts';
import { contains, toPage, type Page, type PageQuery } from './list-page.ts';
import type { Database, Dialect, UsersTable } from './schema.ts';

/** A user as the rest of Tollgate sees it. */
export interface User {
  id: number;
  name: string;
  balanceMicros: number;
  disabled: boolean;
  createdAt: number;
}

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    balanceMicros: row.balance_micros,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
  };
}

/** Users and their balances. */
export class UserRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Creates a user with a zero balance; a taken name is a `StoreInputError('conflict')`. */
  async create(input: { name: string }): Promise<User> {
    if (input.name.length === 0) throw new StoreInputError('invalid', 'user name must not be empty');
    try {
      const row = await this.#db
        .insertInto('users')
        .values({ name: input.name, created_at: Date.now() })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toUser(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', `user "${input.name}" already exists`);
      throw err;
    }
  }

  /**
   * Renames a user; a taken name is `conflict`, an unknown id `not_found`.
   * No change event: running servers key everything by id, never by name.
   */
  async rename(id: number, name: string): Promise<User> {
    if (name.length === 0) throw new StoreInputError('invalid', 'user name must not be empty');
    try {
      const row = await this.#db.updateTable('users').set({ name }).where('id', '=', id).returningAll().executeTakeFirst();
      if (!row) throw new StoreInputError('not_found', `no user with id ${id}`);
      return toUser(row);
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', `user "${name}" already exists`);
      throw err;
    }
  }

  async byName(name: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toUser(row);
  }

  async byId(id: number): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async list(): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('id').execute();
    return rows.map(toUser);
  }

  /** A page of users whose name contains `search`, optionally only (not) disabled ones. */
  async page(q: PageQuery & { disabled?: boolean }): Promise<Page<User>> {
    const order = q.order ?? 'asc';
    let query = this.#db.selectFrom('users').selectAll().orderBy('id', order);
    if (q.search !== undefined) query = query.where((eb) => contains(eb.ref('name'), q.search!));
    if (q.disabled !== undefined) query = query.where('disabled', '=', q.disabled ? 1 : 0);
    if (q.after !== undefined) query = query.where('id', order === 'asc' ? '>' : '<', q.after);
    if (q.limit !== undefined) query = query.limit(q.limit + 1);
    return toPage((await query.execute()).map(toUser), q.limit);
  }

  /**
   * Adds `deltaMicros` (negative to debit) to the balance and returns the new
   * balance; appends 'user.balance' with the delta so servers adjust their
   * live balance without a reload. Unknown user: `StoreInputError('not_found')`.
   */
  async credit(userId: number, deltaMicros: number): Promise<number> {
    if (!Number.isSafeInteger(deltaMicros)) {
      throw new StoreInputError('invalid', 'credit amount must be an integer number of micro-credits');
    }
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('users')
        .set((eb) => ({ balance_micros: eb('balance_micros', '+', deltaMicros) }))
        .where('id', '=', userId)
        .returning('balance_micros')
        .executeTakeFirst();
      if (!row) throw new StoreInputError('not_found', `no user with id ${userId}`);
      await appendChange(trx, this.#dialect, 'user.balance', String(userId), deltaMicros);
      return row.balance_micros;
    });
  }

  /** Disables or re-enables a user; appends 'user.disabled' (delta 1 or 0). */
  setDisabled(id: number, disabled: boolean): Promise<void> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('users')
        .set({ disabled: disabled ? 1 : 0 })
        .where('id', '=', id)
        .executeTakeFirst();
      if (res.numUpdatedRows === 0n) throw new StoreInputError('not_found', `no user with id ${id}`);
      await appendChange(trx, this.#dialect, 'user.disabled', String(id), disabled ? 1 : 0);
    });
  }

  /** Balances of the given users; ids that do not exist are absent from the map. */
  async balances(ids: readonly number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    // Chunked to stay far below either dialect's bind-parameter limit.
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await this.#db
        .selectFrom('users')
        .select(['id', 'balance_micros'])
        .where('id', 'in', ids.slice(i, i + 1000))
        .execute();
      for (const r of rows) out.set(r.id, r.balance_micros);
    }
    return out;
  }

  /**
   * Balance and debit_seq of one user, read from one row: the balance holds
   * exactly the usage debits numbered 1..debitSeq. null: no such user.
   */
  async ledgerState(userId: number): Promise<{ balanceMicros: number; debitSeq: number } | null> {
    const row = await this.#db.selectFrom('users').select(['balance_micros', 'debit_seq']).where('id', '=', userId).executeTakeFirst();
    return row === undefined ? null : { balanceMicros: row.balance_micros, debitSeq: row.debit_seq };
  }
}
