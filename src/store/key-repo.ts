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

/** What a key is limited to; a null field limits nothing. */
export interface KeyRules {
  /** Epoch ms from which the key is refused. */
  expiresAt: number | null;
  /** The models the key may use (never empty). */
  models: string[] | null;
  /** CIDRs the key may be used from (never empty; checked by the caller). */
  ips: string[] | null;
  /** The key's model requests use the response cache (docs/cache.md) without asking. */
  cache: boolean;
}

/** A change of rules: absent fields keep their value, null lifts the rule. */
export type KeyRulesPatch = Partial<KeyRules>;

/** A client key without its secret. */
export interface ClientKey extends KeyRules {
  id: number;
  userId: number;
  name: string;
  keyHash: string;
  prefix: string;
  revokedAt: number | null;
  createdAt: number;
}

/** What the authenticator needs on a cache miss. */
export interface KeyRow extends KeyRules {
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
    ...rulesOf(row),
  };
}

function rulesOf(row: Pick<Selectable<ClientKeysTable>, 'expires_at' | 'models' | 'ips' | 'response_cache'>): KeyRules {
  return { expiresAt: row.expires_at, models: decodeList(row.models), ips: decodeList(row.ips), cache: row.response_cache === 1 };
}

const decodeList = (text: string | null): string[] | null => (text === null ? null : (JSON.parse(text) as string[]));

/** The columns of a rules patch; an empty list would lock the key out unseen, so it is refused. */
function ruleColumns(patch: KeyRulesPatch): Partial<Pick<ClientKeysTable, 'expires_at' | 'models' | 'ips'>> & { response_cache?: number } {
  const out: Partial<Pick<ClientKeysTable, 'expires_at' | 'models' | 'ips'>> & { response_cache?: number } = {};
  if (patch.cache !== undefined) out.response_cache = patch.cache ? 1 : 0;
  if (patch.expiresAt !== undefined) {
    if (patch.expiresAt !== null && !Number.isSafeInteger(patch.expiresAt)) throw new StoreInputError('invalid', 'expiresAt must be epoch milliseconds');
    out.expires_at = patch.expiresAt;
  }
  for (const field of ['models', 'ips'] as const) {
    const list = patch[field];
    if (list === undefined) continue;
    if (list !== null && list.length === 0) throw new StoreInputError('invalid', `${field} must name at least one entry (null: no restriction)`);
    out[field] = list === null ? null : JSON.stringify(list);
  }
  return out;
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
  async insert(input: { userId: number; name: string; keyHash: string; prefix: string } & KeyRulesPatch): Promise<ClientKey> {
    const rules = ruleColumns(input);
    try {
      const row = await this.#db
        .insertInto('client_keys')
        .values({
          user_id: input.userId,
          name: input.name,
          key_hash: input.keyHash,
          prefix: input.prefix,
          created_at: Date.now(),
          ...rules,
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
      .select(['k.id', 'k.user_id', 'k.name', 'u.name as user_name', 'k.revoked_at', 'u.disabled', 'k.expires_at', 'k.models', 'k.ips', 'k.response_cache'])
      .where('k.key_hash', '=', keyHash)
      .executeTakeFirst();
    if (!row) return undefined;
    return { id: row.id, userId: row.user_id, name: row.name, userName: row.user_name, revoked: row.revoked_at !== null, userDisabled: row.disabled === 1, ...rulesOf(row) };
  }

  /**
   * Changes the rules of a live key, by id (number) or display prefix
   * (string), like `revoke`. Returns the key, or undefined when no live key
   * matched. Appends 'key.changed' with the key hash as subject so servers
   * drop the cached entry and read the new rules.
   */
  async update(idOrPrefix: number | string, patch: KeyRulesPatch): Promise<ClientKey | undefined> {
    const columns = ruleColumns(patch);
    if (Object.keys(columns).length === 0) throw new StoreInputError('invalid', 'nothing to change');
    return this.#db.transaction().execute(async (trx) => {
      // Write first, like revoke (SQLite: no read-then-write upgrade).
      const base = trx.updateTable('client_keys').set(columns).where('revoked_at', 'is', null);
      const rows = await (typeof idOrPrefix === 'number' ? base.where('id', '=', idOrPrefix) : base.where('prefix', '=', idOrPrefix))
        .returningAll()
        .execute();
      if (rows.length > 1) {
        throw new StoreInputError('conflict', `prefix "${String(idOrPrefix)}" matches ${rows.length} keys; update by id`);
      }
      if (rows.length === 0) return undefined;
      await appendChange(trx, this.#dialect, 'key.changed', rows[0].key_hash);
      return toKey(rows[0]);
    });
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
