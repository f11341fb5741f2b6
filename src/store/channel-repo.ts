/**
 * Upstream channels: a provider endpoint with the models it serves and the
 * upstream API keys to call it with. The gateway builds its routing table from
 * `listFull()` at start and again on every 'channels' change event.
 *
 * Upstream secrets are needed in clear to call the upstream, so they are
 * encrypted, not hashed: sealed on write and opened when channels are listed
 * (see secrets/secret-box.ts and channel-secrets.ts). The raw column never
 * holds a secret in clear once the store has started.
 */
import type { Kysely, Selectable, Updateable } from 'kysely';
import type { SecretBox } from '../secrets/secret-box.ts';
import { appendChange } from './change-feed.ts';
import { channelKeyContext } from './channel-secrets.ts';
import { StoreInputError, isForeignKeyViolation, isUniqueViolation } from './errors.ts';
import type { ChannelKeysTable, ChannelsTable, Database, Dialect } from './schema.ts';

/** Provider protocols a channel can speak. */
export type ChannelType = 'openai' | 'openai-compatible' | 'mock' | 'anthropic';
const CHANNEL_TYPES: ReadonlySet<string> = new Set<ChannelType>(['openai', 'openai-compatible', 'mock', 'anthropic']);

/** A channel row (without models and keys). */
export interface Channel {
  id: number;
  name: string;
  type: ChannelType;
  baseUrl: string;
  weight: number;
  priority: number;
  enabled: boolean;
  createdAt: number;
  /** Streamed attempts with no first byte within this many ms fail over; null: no such limit. */
  firstTokenTimeoutMs: number | null;
}

/** A client-facing model name and the name to send upstream. */
export interface ChannelModel {
  model: string;
  upstreamModel: string;
}

/** An upstream API key of a channel; `secret` is in clear here (opened from the store; needed to call upstream). */
export interface ChannelKey {
  id: number;
  channelId: number;
  secret: string;
  enabled: boolean;
  createdAt: number;
}

/** A channel with everything routing needs. */
export interface ChannelFull extends Channel {
  models: ChannelModel[];
  keys: ChannelKey[];
}

/** Input of `ChannelRepo.add`; weight defaults to 1, priority to 0. */
export interface ChannelInput {
  name: string;
  type: ChannelType;
  baseUrl: string;
  weight?: number;
  priority?: number;
  firstTokenTimeoutMs?: number | null;
  models: ChannelModel[];
}

/** Input of `ChannelRepo.update`: only the fields given change. */
export interface ChannelPatch {
  name?: string;
  baseUrl?: string;
  weight?: number;
  priority?: number;
  /** null removes the limit. */
  firstTokenTimeoutMs?: number | null;
  models?: ChannelModel[];
}

function toChannel(row: Selectable<ChannelsTable>): Channel {
  return {
    id: row.id,
    name: row.name,
    type: row.type as ChannelType,
    baseUrl: row.base_url,
    weight: row.weight,
    priority: row.priority,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    firstTokenTimeoutMs: row.first_token_timeout_ms,
  };
}

/** A first-token timeout is a positive integer of ms (at most 10 minutes), or null for none. */
function checkFirstTokenTimeout(ms: number | null | undefined): void {
  if (ms !== undefined && ms !== null && !(Number.isSafeInteger(ms) && ms >= 1 && ms <= 600_000)) {
    throw new StoreInputError('invalid', 'channel first-token timeout must be an integer of ms in 1..600000 (or null for none)');
  }
}

function toChannelKey(row: Selectable<ChannelKeysTable>, secret: string): ChannelKey {
  return { id: row.id, channelId: row.channel_id, secret, enabled: row.enabled === 1, createdAt: row.created_at };
}

/** Channels, their models and upstream keys. Every mutation appends 'channels'. */
export class ChannelRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;
  readonly #secrets: SecretBox;

  constructor(db: Kysely<Database>, dialect: Dialect, secrets: SecretBox) {
    this.#db = db;
    this.#dialect = dialect;
    this.#secrets = secrets;
  }

  /** Adds a channel with its models (enabled, no keys yet). */
  async add(input: ChannelInput): Promise<Channel> {
    if (!CHANNEL_TYPES.has(input.type)) throw new StoreInputError('invalid', `unknown channel type "${input.type}"`);
    const weight = input.weight ?? 1;
    const priority = input.priority ?? 0;
    if (!Number.isSafeInteger(weight) || weight < 0) throw new StoreInputError('invalid', 'channel weight must be a non-negative integer');
    if (!Number.isSafeInteger(priority)) throw new StoreInputError('invalid', 'channel priority must be an integer');
    checkFirstTokenTimeout(input.firstTokenTimeoutMs);
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('channels')
          .values({ name: input.name, type: input.type, base_url: input.baseUrl, weight, priority, first_token_timeout_ms: input.firstTokenTimeoutMs ?? null, created_at: Date.now() })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (input.models.length > 0) {
          await trx
            .insertInto('channel_models')
            .values(input.models.map((m) => ({ channel_id: row.id, model: m.model, upstream_model: m.upstreamModel })))
            .execute();
        }
        await appendChange(trx, this.#dialect, 'channels', String(row.id));
        return toChannel(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', `channel "${input.name}" already exists or lists a model twice`);
      throw err;
    }
  }

  /**
   * Changes a channel's fields; `models`, when given, replaces the whole
   * model list. Unknown id is `not_found`; a taken name or a model listed
   * twice is `conflict`. Appends 'channels'.
   */
  async update(id: number, patch: ChannelPatch): Promise<Channel> {
    if (patch.weight !== undefined && (!Number.isSafeInteger(patch.weight) || patch.weight < 0)) throw new StoreInputError('invalid', 'channel weight must be a non-negative integer');
    if (patch.priority !== undefined && !Number.isSafeInteger(patch.priority)) throw new StoreInputError('invalid', 'channel priority must be an integer');
    checkFirstTokenTimeout(patch.firstTokenTimeoutMs);
    const set: Updateable<ChannelsTable> = {};
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.baseUrl !== undefined) set.base_url = patch.baseUrl;
    if (patch.weight !== undefined) set.weight = patch.weight;
    if (patch.priority !== undefined) set.priority = patch.priority;
    if (patch.firstTokenTimeoutMs !== undefined) set.first_token_timeout_ms = patch.firstTokenTimeoutMs;
    try {
      return await this.#db.transaction().execute(async (trx) => {
        // Write first, as in KeyRepo.revoke: a no-op assignment still returns the row.
        const row = await trx
          .updateTable('channels')
          .set(Object.keys(set).length > 0 ? set : (eb) => ({ name: eb.ref('name') }))
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        if (!row) throw new StoreInputError('not_found', `no channel with id ${id}`);
        if (patch.models !== undefined) {
          await trx.deleteFrom('channel_models').where('channel_id', '=', id).execute();
          if (patch.models.length > 0) {
            await trx
              .insertInto('channel_models')
              .values(patch.models.map((m) => ({ channel_id: id, model: m.model, upstream_model: m.upstreamModel })))
              .execute();
          }
        }
        await appendChange(trx, this.#dialect, 'channels', String(id));
        return toChannel(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreInputError('conflict', `channel name "${String(patch.name)}" is taken or a model is listed twice`);
      throw err;
    }
  }

  /** Adds an upstream API key to a channel; the secret is stored sealed. */
  async addKey(channelId: number, secret: string): Promise<ChannelKey> {
    const sealed = this.#secrets.seal(secret, channelKeyContext(channelId));
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('channel_keys')
          .values({ channel_id: channelId, secret: sealed, created_at: Date.now() })
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendChange(trx, this.#dialect, 'channels', String(channelId));
        return toChannelKey(row, secret);
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new StoreInputError('not_found', `no channel with id ${channelId}`);
      throw err;
    }
  }

  /** Enables or disables a channel; false when no such channel. */
  setEnabled(id: number, enabled: boolean): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.updateTable('channels').set({ enabled: enabled ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
      if (res.numUpdatedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'channels', String(id));
      return true;
    });
  }

  /** Enables or disables one upstream key; false when no such key. */
  setKeyEnabled(keyId: number, enabled: boolean): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('channel_keys')
        .set({ enabled: enabled ? 1 : 0 })
        .where('id', '=', keyId)
        .returning('channel_id')
        .executeTakeFirst();
      if (!row) return false;
      await appendChange(trx, this.#dialect, 'channels', String(row.channel_id));
      return true;
    });
  }

  async byName(name: string): Promise<Channel | undefined> {
    const row = await this.#db.selectFrom('channels').selectAll().where('name', '=', name).executeTakeFirst();
    return row && toChannel(row);
  }

  /**
   * All channels (enabled or not) with their models and keys (secrets
   * opened), ordered by id. Three queries assembled in memory: cheaper than a
   * join that repeats every channel row per model × key. A secret that no
   * configured master key opens throws `SecretError`.
   */
  async listFull(): Promise<ChannelFull[]> {
    // One snapshot, so a concurrent add cannot show a channel without its
    // models. SQLite's read transaction is a snapshot already (the driver
    // ignores the level); PostgreSQL needs REPEATABLE READ for that.
    return this.#db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
      const channels = await trx.selectFrom('channels').selectAll().orderBy('id').execute();
      const models = await trx.selectFrom('channel_models').selectAll().orderBy('channel_id').orderBy('model').execute();
      const keys = await trx.selectFrom('channel_keys').selectAll().orderBy('id').execute();
      const byId = new Map<number, ChannelFull>();
      const out: ChannelFull[] = [];
      for (const row of channels) {
        const full: ChannelFull = { ...toChannel(row), models: [], keys: [] };
        byId.set(row.id, full);
        out.push(full);
      }
      for (const m of models) byId.get(m.channel_id)?.models.push({ model: m.model, upstreamModel: m.upstream_model });
      for (const k of keys) byId.get(k.channel_id)?.keys.push(toChannelKey(k, this.#secrets.open(k.secret, channelKeyContext(k.channel_id))));
      return out;
    });
  }
}
