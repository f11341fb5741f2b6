/**
 * Client keys: the bearer keys applications send. Only the SHA-256 hash is
 * stored (computed by the caller, like the display prefix); the key itself is
 * shown once at creation and never again.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError, isForeignKeyViolation, isUniqueViolation } from './errors.ts';
import { contains, toPage, type Page, type PageQuery } from './list-page.ts';
import type { ClientKeysTable, Database, Dialect } from './schema.ts';

/** A client key without its secret. */
export interface ClientKey {
  id: number;
  userId: number;
  name: string;
  keyHash: string;
  prefix: string;
  revokedAt: number | null;
  createdAt: number;
}

/** What the authenticator needs on a cache miss. */
export interface KeyRow {
  id: number;
  userId: number;
  /** Names for messages (a 429 names the user and key), read in the same lookup. */
  name: string;
  userName: string;
  revoked: boolean;
  userDisabled: boolean;
}

function toKey(row: Selectable<ClientKeysTable>): ClientKey {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    keyHash: row.key_hash,
    prefix: row.prefix,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}

/** Client keys. */
export class KeyRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Stores a key; unknown user is `not_found`, a duplicate hash is `conflict`. */
  async insert(input: { userId: number; name: string; keyHash: string; prefix: string }): Promise<ClientKey> {
    try {
      const row = await this.#db
        .insertInto('client_keys')
        .values({
          user_id: input.userId,
          name: input.name,
          key_hash: input.keyHash,
          prefix: input.prefix,
          created_at: Date.now(),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return toKey(row);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new StoreInputError('not_found', `no user with id ${input.userId}`);
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', 'a key with this hash already exists');
      throw err;
    }
  }

  /**
   * One indexed lookup (unique key_hash, then the users primary key): this
   * runs on the authenticator's cache-miss path.
   */
  async findByHash(keyHash: string): Promise<KeyRow | undefined> {
    const row = await this.#db
      .selectFrom('client_keys as k')
      .innerJoin('users as u', 'u.id', 'k.user_id')
      .select(['k.id', 'k.user_id', 'k.name', 'u.name as user_name', 'k.revoked_at', 'u.disabled'])
      .where('k.key_hash', '=', keyHash)
      .executeTakeFirst();
    if (!row) return undefined;
    return { id: row.id, userId: row.user_id, name: row.name, userName: row.user_name, revoked: row.revoked_at !== null, userDisabled: row.disabled === 1 };
  }

  /**
   * Revokes a key by id (number) or display prefix (string). Returns false
   * when no un-revoked key matched; a prefix matching several live keys is
   * refused (`conflict`) rather than revoking them all. Appends 'key.revoked'
   * with the key hash as subject so servers can drop it from their caches.
   */
  revoke(idOrPrefix: number | string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      // Write first (UPDATE … RETURNING) rather than read-then-write: on
      // SQLite a deferred transaction that starts with a read can fail with
      // SQLITE_BUSY_SNAPSHOT when the CLI and the server write concurrently.
      const base = trx.updateTable('client_keys').set({ revoked_at: Date.now() }).where('revoked_at', 'is', null);
      const rows = await (typeof idOrPrefix === 'number'
        ? base.where('id', '=', idOrPrefix)
        : base.where('prefix', '=', idOrPrefix)
      )
        .returning('key_hash')
        .execute();
      if (rows.length > 1) {
        throw new StoreInputError('conflict', `prefix "${String(idOrPrefix)}" matches ${rows.length} keys; revoke by id`);
      }
      if (rows.length === 0) return false;
      await appendChange(trx, this.#dialect, 'key.revoked', rows[0].key_hash);
      return true;
    });
  }

  async byId(id: number): Promise<ClientKey | undefined> {
    const row = await this.#db.selectFrom('client_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toKey(row);
  }

  async listByUser(userId: number): Promise<ClientKey[]> {
    const rows = await this.#db.selectFrom('client_keys').selectAll().where('user_id', '=', userId).orderBy('id').execute();
    return rows.map(toKey);
  }

  async list(): Promise<ClientKey[]> {
    const rows = await this.#db.selectFrom('client_keys').selectAll().orderBy('id').execute();
    return rows.map(toKey);
  }

  /**
   * A page of keys whose label, display prefix or owner's name contains
   * `search`, optionally of one user, only (not) revoked ones and only those
   * whose display prefix starts with `prefix` (case-sensitive).
   */
  async page(q: PageQuery & { userId?: number; revoked?: boolean; prefix?: string }): Promise<Page<ClientKey>> {
    const order = q.order ?? 'asc';
    let query = this.#db.selectFrom('client_keys as k').innerJoin('users as u', 'u.id', 'k.user_id').selectAll('k').orderBy('k.id', order);
    if (q.search !== undefined) {
      const text = q.search;
      query = query.where((eb) => eb.or([contains(eb.ref('k.name'), text), contains(eb.ref('k.prefix'), text), contains(eb.ref('u.name'), text)]));
    }
    if (q.userId !== undefined) query = query.where('k.user_id', '=', q.userId);
    if (q.prefix !== undefined) query = query.where(sql<string>`substr(${sql.ref('k.prefix')}, 1, ${q.prefix.length})`, '=', q.prefix);
    if (q.revoked !== undefined) query = query.where('k.revoked_at', q.revoked ? 'is not' : 'is', null);
    if (q.after !== undefined) query = query.where('k.id', order === 'asc' ? '>' : '<', q.after);
    if (q.limit !== undefined) query = query.limit(q.limit + 1);
    return toPage((await query.execute()).map(toKey), q.limit);
  }
}
