/**
 * Upstream key secrets and proxy credentials at rest: the start-up step that
 * seals legacy plaintext upstream keys, and the rotation that re-seals every
 * sealed value with the current master key.
 *
 * Both are one transaction over `channel_keys` (BEGIN IMMEDIATE on SQLite, so
 * a concurrent writer waits instead of failing the upgrade from read to
 * write), and both are idempotent: a row already in the wanted form is left
 * alone, so a second run, or two processes starting at once, change nothing.
 * Neither appends a change event: the secrets' clear text does not change, so
 * no route table needs rebuilding.
 */
import { sql, type Kysely } from 'kysely';
import { isSealed, type SecretBox } from '../secrets/secret-box.ts';
import type { Database, Dialect } from './schema.ts';
import { withImmediateTransaction } from './sqlite.ts';

/** The context a channel key's secret is bound to (additional authenticated data). */
export const channelKeyContext = (channelId: number) => `channel_keys.secret:${channelId}`;
/** The context a proxy's credentials are bound to (proxies are sealed from the start: no plaintext rows). */
export const proxyCredentialsContext = (proxyId: number) => `proxies.credentials:${proxyId}`;

/** What a pass over the rows did. */
export interface ResealResult {
  /** Rows in `channel_keys`, plus proxies with credentials. */
  rows: number;
  /** Rows written (sealed or re-sealed). */
  changed: number;
  /** The master key id every row is sealed with now. */
  keyId: string;
}

function inTransaction<T>(db: Kysely<Database>, dialect: Dialect, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return dialect === 'sqlite' ? withImmediateTransaction(db, () => fn(db)) : db.transaction().execute(fn);
}

/**
 * Seals the rows still in plaintext (written before encryption at rest, or by
 * an older node). Cheap when there are none: one query that reads no secret.
 */
export async function sealPlaintextSecrets(db: Kysely<Database>, dialect: Dialect, box: SecretBox): Promise<number> {
  // substr/<> rather than LIKE: SQLite's LIKE ignores case.
  const candidate = await db.selectFrom('channel_keys').select('id').where(sql<string>`substr(secret, 1, 3)`, '<>', 'v1:').limit(1).executeTakeFirst();
  if (candidate === undefined) return 0;
  return inTransaction(db, dialect, async (trx) => {
    const rows = await trx.selectFrom('channel_keys').select(['id', 'channel_id', 'secret']).execute();
    let changed = 0;
    for (const row of rows) {
      if (isSealed(row.secret)) continue;
      await trx.updateTable('channel_keys').set({ secret: box.seal(row.secret, channelKeyContext(row.channel_id)) }).where('id', '=', row.id).execute();
      changed++;
    }
    return changed;
  });
}

/**
 * Re-seals every row not sealed with the current master key, opening it with
 * whichever configured key sealed it. All or nothing: a row that no
 * configured key opens aborts the whole rotation, leaving every row as it was.
 */
export async function resealSecrets(db: Kysely<Database>, dialect: Dialect, box: SecretBox): Promise<ResealResult> {
  return inTransaction(db, dialect, async (trx) => {
    // Lock the table on PostgreSQL so a key added meanwhile waits for the rotation (SQLite's IMMEDIATE already excludes writers).
    if (dialect === 'postgres') await sql`lock table channel_keys, proxies in share row exclusive mode`.execute(trx);
    const rows = await trx.selectFrom('channel_keys').select(['id', 'channel_id', 'secret']).execute();
    let changed = 0;
    for (const row of rows) {
      if (box.isCurrent(row.secret)) continue;
      const context = channelKeyContext(row.channel_id);
      const plain = box.open(row.secret, context);
      await trx.updateTable('channel_keys').set({ secret: box.seal(plain, context) }).where('id', '=', row.id).execute();
      changed++;
    }
    const proxies = await trx.selectFrom('proxies').select(['id', 'credentials']).where('credentials', 'is not', null).execute();
    for (const row of proxies) {
      if (box.isCurrent(row.credentials!)) continue;
      const context = proxyCredentialsContext(row.id);
      await trx.updateTable('proxies').set({ credentials: box.seal(box.open(row.credentials!, context), context) }).where('id', '=', row.id).execute();
      changed++;
    }
    return { rows: rows.length + proxies.length, changed, keyId: box.currentKeyId };
  });
}
