/**
 * Client keys: the bearer keys applications send. Only the SHA-256 hash is
 * stored (computed by the caller, like the display prefix); the key itself is
 * shown once at creation and never again.
 */
import type { Kysely, Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError, isForeignKeyViolation, isUniqueViolation } from './errors.ts';
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
}
