/**
 * Outbound proxies (HTTP(S) CONNECT, SOCKS5) and the bindings of users and
 * client keys to them. A proxy belongs to the global pool (no channel) or to
 * one channel's pool. The gateway builds its proxy table from `listFull()` and
 * `bindings()` at start and on every 'proxies' change event.
 *
 * Credentials are kept apart from the URL and sealed like upstream keys (see
 * channel-secrets.ts), bound to the proxy's row; `list()` never opens them, and
 * no message here repeats a URL as given, since it may carry them.
 */
import type { Kysely, Selectable } from 'kysely';
import type { SecretBox } from '../secrets/secret-box.ts';
import { appendChange } from './change-feed.ts';
import { proxyCredentialsContext } from './channel-secrets.ts';
import { StoreInputError, isUniqueViolation } from './errors.ts';
import type { Database, Dialect, ProxiesTable } from './schema.ts';

export type ProxyKind = 'http' | 'https' | 'socks5';
const DEFAULT_PORTS: Record<ProxyKind, number> = { http: 80, https: 443, socks5: 1080 };

/** A proxy as listed: `url` is `scheme://host:port`, never with credentials. */
export interface OutboundProxy {
  id: number;
  name: string;
  kind: ProxyKind;
  url: string;
  /** null: the global pool; else only this channel's traffic uses it. */
  channelId: number | null;
  enabled: boolean;
  hasCredentials: boolean;
  createdAt: number;
}

/** A proxy with its credentials opened, for the gateway's dispatchers only. */
export interface ProxyFull extends OutboundProxy {
  username: string | null;
  password: string | null;
}

/** Input of `ProxyRepo.add`: credentials in `url` (`socks5://user:pass@host:port`) or apart. */
export interface ProxyInput {
  name: string;
  url: string;
  username?: string;
  password?: string;
  channelId?: number | null;
}

export type ProxyBindingScope = 'user' | 'key';

/** A user's or client key's traffic always leaves through this proxy. */
export interface ProxyBinding {
  scope: ProxyBindingScope;
  subjectId: number;
  proxyId: number;
  createdAt: number;
}

interface Credentials { username: string; password: string }

/** Splits a proxy URL into its credential-free form and credentials; throws `StoreInputError('invalid')`. */
export function parseProxyUrl(raw: string): { kind: ProxyKind; url: string; credentials: Credentials | null } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new StoreInputError('invalid', 'proxy url must be an absolute URL: http://, https:// or socks5://host:port');
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'socks5') throw new StoreInputError('invalid', `proxy url scheme must be http, https or socks5 (got ${scheme})`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') throw new StoreInputError('invalid', 'proxy url must be scheme://host:port, without a path, query or fragment');
  const kind: ProxyKind = scheme;
  const port = u.port === '' ? DEFAULT_PORTS[kind] : Number(u.port);
  const credentials = u.username === '' && u.password === '' ? null : { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
  return { kind, url: `${kind}://${u.hostname}:${port}`, credentials };
}

function toProxy(row: Selectable<ProxiesTable>): OutboundProxy {
  return {
    id: row.id,
    name: row.name,
    kind: row.url.slice(0, row.url.indexOf(':')) as ProxyKind,
    url: row.url,
    channelId: row.channel_id,
    enabled: row.enabled === 1,
    hasCredentials: row.credentials !== null,
    createdAt: row.created_at,
  };
}

/** Proxies and bindings. Every mutation appends 'proxies'. */
export class ProxyRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #secrets: SecretBox;

  constructor(db: Kysely<Database>, dialect: Dialect, secrets: SecretBox) {
    this.#db = db;
    this.#dialect = dialect;
    this.#secrets = secrets;
  }

  /** Adds an enabled proxy; its credentials are sealed to its row. */
  async add(input: ProxyInput): Promise<OutboundProxy> {
    const parsed = parseProxyUrl(input.url);
    const credentials = input.username !== undefined ? { username: input.username, password: input.password ?? '' } : parsed.credentials;
    if (credentials !== null && (credentials.username.length > 255 || credentials.password.length > 255)) throw new StoreInputError('invalid', 'proxy username and password are at most 255 bytes each');
    try {
      return await this.#db.transaction().execute(async (trx) => {
        if (input.channelId != null) {
          const channel = await trx.selectFrom('channels').select('id').where('id', '=', input.channelId).executeTakeFirst();
          if (channel === undefined) throw new StoreInputError('not_found', `no channel with id ${input.channelId}`);
        }
        let row = await trx
          .insertInto('proxies')
          .values({ name: input.name, url: parsed.url, channel_id: input.channelId ?? null, created_at: Date.now() })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (credentials !== null) {
          const sealed = this.#secrets.seal(JSON.stringify(credentials), proxyCredentialsContext(row.id));
          row = await trx.updateTable('proxies').set({ credentials: sealed }).where('id', '=', row.id).returningAll().executeTakeFirstOrThrow();
        }
        await appendChange(trx, this.#dialect, 'proxies', String(row.id));
        return toProxy(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', `proxy "${input.name}" already exists`);
      throw err;
    }
  }

  /** Removes a proxy and the bindings to it; false when no such proxy. */
  remove(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('proxy_bindings').where('proxy_id', '=', id).execute();
      const res = await trx.deleteFrom('proxies').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'proxies', String(id));
      return true;
    });
  }

  /** Enables or disables a proxy; false when no such proxy. Traffic bound to a disabled proxy is refused, never rerouted. */
  setEnabled(id: number, enabled: boolean): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.updateTable('proxies').set({ enabled: enabled ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
      if (res.numUpdatedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'proxies', String(id));
      return true;
    });
  }

  async byName(name: string): Promise<OutboundProxy | undefined> {
    const row = await this.#db.selectFrom('proxies').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toProxy(row);
  }

  /** Every proxy, credentials withheld. */
  async list(): Promise<OutboundProxy[]> {
    return (await this.#db.selectFrom('proxies').selectAll().orderBy('id').execute()).map(toProxy);
  }

  /** Every proxy with its credentials opened (the gateway's table). Throws `SecretError` for a value no master key opens. */
  async listFull(): Promise<ProxyFull[]> {
    const rows = await this.#db.selectFrom('proxies').selectAll().orderBy('id').execute();
    return rows.map((row) => {
      const creds = row.credentials === null ? null : (JSON.parse(this.#secrets.open(row.credentials, proxyCredentialsContext(row.id))) as Credentials);
      return { ...toProxy(row), username: creds?.username ?? null, password: creds?.password ?? null };
    });
  }

  /** Binds a user or client key to a proxy, replacing its previous binding. */
  async bind(scope: ProxyBindingScope, subjectId: number, proxyId: number): Promise<ProxyBinding> {
    return this.#db.transaction().execute(async (trx) => {
      const proxy = await trx.selectFrom('proxies').select('id').where('id', '=', proxyId).executeTakeFirst();
      if (proxy === undefined) throw new StoreInputError('not_found', `no proxy with id ${proxyId}`);
      const subject = scope === 'user'
        ? await trx.selectFrom('users').select('id').where('id', '=', subjectId).executeTakeFirst()
        : await trx.selectFrom('client_keys').select('id').where('id', '=', subjectId).executeTakeFirst();
      if (subject === undefined) throw new StoreInputError('not_found', `no ${scope} with id ${subjectId}`);
      await trx.deleteFrom('proxy_bindings').where('scope', '=', scope).where('subject_id', '=', subjectId).execute();
      const createdAt = Date.now();
      await trx.insertInto('proxy_bindings').values({ scope, subject_id: subjectId, proxy_id: proxyId, created_at: createdAt }).execute();
      await appendChange(trx, this.#dialect, 'proxies', `${scope}:${subjectId}`);
      return { scope, subjectId, proxyId, createdAt };
    });
  }

  /** Removes a binding; false when there was none. */
  unbind(scope: ProxyBindingScope, subjectId: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('proxy_bindings').where('scope', '=', scope).where('subject_id', '=', subjectId).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'proxies', `${scope}:${subjectId}`);
      return true;
    });
  }

  async bindings(): Promise<ProxyBinding[]> {
    const rows = await this.#db.selectFrom('proxy_bindings').selectAll().orderBy('scope').orderBy('subject_id').execute();
    return rows.map((r) => ({ scope: r.scope as ProxyBindingScope, subjectId: r.subject_id, proxyId: r.proxy_id, createdAt: r.created_at }));
  }
}
