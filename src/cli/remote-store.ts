/**
 * What the operator commands need from a store, and its remote
 * implementation over a Tollgate's admin API. The local `Store` provides the
 * same operations (see `localAdmin` in admin-commands.ts), so every command is
 * written once and prints the same table or JSON in both modes.
 *
 * Names are resolved the way the local commands resolve them (user by name,
 * key by display prefix), through the API's list filters.
 */
import type { BudgetFilter, BudgetInput, BudgetRow, Channel, ChannelInput, ChannelKey, ChannelModel, ChannelPatch, ClientKey, KeyRulesPatch, LimitInput, LimitPatch, LimitRow, LimitRowScope, StoredPrice, PriceInput, UsageAggregateQuery, UsageBucket, UsagePage, UsagePageQuery, User } from '../store/store.ts';
import { StoreInputError } from '../store/store.ts';
import { usageRecordFromRow } from '../store/usage-columns.ts';
import type { ChannelKeyView, ChannelView, KeyView, LimitView, PriceView, UsageBucketView, UsageRecordView, UserView } from '../admin/admin-views.ts';
import type { BudgetView } from '../admin/admin-budgets.ts';
import { AdminClient, type Query } from './remote-client.ts';

/** A client key as listed: never its hash. */
export type KeyInfo = Omit<ClientKey, 'keyHash'>;
/** An upstream key as listed: never its secret. */
export type ChannelKeyInfo = Omit<ChannelKey, 'secret'>;
/** A channel with its models and (secret-less) keys. */
export interface ChannelInfo extends Channel { models: ChannelModel[]; keys: ChannelKeyInfo[] }

/** The store operations behind the operator commands. */
export interface AdminStore {
  users: {
    create(input: { name: string }): Promise<User>;
    byName(name: string): Promise<User | undefined>;
    list(): Promise<User[]>;
    /** Returns the new stored balance. */
    credit(userId: number, deltaMicros: number): Promise<number>;
    setDisabled(id: number, disabled: boolean): Promise<void>;
  };
  keys: {
    /** Creates a key with the rules given; `secret` is the key itself, shown once. */
    create(userId: number, name: string, rules: KeyRulesPatch): Promise<{ key: KeyInfo; secret: string }>;
    /** Changes the rules of a live key (by id or display prefix, like revoke); undefined when no live key matched. */
    update(idOrPrefix: number | string, patch: KeyRulesPatch): Promise<KeyInfo | undefined>;
    list(): Promise<KeyInfo[]>;
    listByUser(userId: number): Promise<KeyInfo[]>;
    /** False when no live key matched; a prefix matching several live keys is a conflict. */
    revoke(idOrPrefix: number | string): Promise<boolean>;
  };
  channels: {
    add(input: ChannelInput): Promise<Channel>;
    update(id: number, patch: ChannelPatch): Promise<Channel>;
    addKey(channelId: number, secret: string): Promise<ChannelKeyInfo>;
    setEnabled(id: number, enabled: boolean): Promise<boolean>;
    byName(name: string): Promise<Channel | undefined>;
    listFull(): Promise<ChannelInfo[]>;
  };
  prices: { set(input: PriceInput): Promise<StoredPrice>; list(): Promise<StoredPrice[]> };
  limits: {
    /** Changes only the limits given (see LimitRepo.patch). */
    patch(input: LimitPatch): Promise<LimitRow>;
    remove(scope: LimitRowScope, subject: string): Promise<boolean>;
    list(): Promise<LimitRow[]>;
  };
  budgets: {
    /** Creates or replaces the budget of (scope, subject, period). */
    set(input: BudgetInput): Promise<BudgetRow>;
    remove(id: number): Promise<boolean>;
    list(filter?: BudgetFilter): Promise<BudgetRow[]>;
  };
  usage: { page(q: UsagePageQuery): Promise<UsagePage>; aggregate(q: UsageAggregateQuery): Promise<UsageBucket[]> };
  close(): Promise<void>;
}

interface List<T> { data: T[] }

const toUser = (u: UserView): User => ({ id: u.id, name: u.name, balanceMicros: u.balance_micros, disabled: u.disabled, createdAt: u.created_at });
const toKey = (k: KeyView): KeyInfo => ({ id: k.id, userId: k.user_id, name: k.name, prefix: k.prefix, revokedAt: k.revoked_at, createdAt: k.created_at, expiresAt: k.expires_at, models: k.models, ips: k.ips, cache: k.cache });
/** A rules patch as the API's JSON: absent fields stay out (kept), null lifts a rule. */
const rulesBody = (r: KeyRulesPatch) => ({ expires_at: r.expiresAt, models: r.models, ips: r.ips, cache: r.cache });
const toChannelKey = (k: ChannelKeyView): ChannelKeyInfo => ({ id: k.id, channelId: k.channel_id, enabled: k.enabled, createdAt: k.created_at });
const toChannel = (c: ChannelView): ChannelInfo => ({
  id: c.id, name: c.name, type: c.type as Channel['type'], baseUrl: c.base_url, weight: c.weight, priority: c.priority, enabled: c.enabled, createdAt: c.created_at, firstTokenTimeoutMs: c.first_token_timeout_ms,
  models: c.models.map((m) => ({ model: m.model, upstreamModel: m.upstream_model })),
  keys: c.keys.map(toChannelKey),
});
const toPrice = (p: PriceView): StoredPrice => ({ id: p.id, model: p.model, channelId: p.channel_id, inputMicrosPerMTok: p.input_micros_per_mtok, outputMicrosPerMTok: p.output_micros_per_mtok,
  cachedInputMicrosPerMTok: p.cached_input_micros_per_mtok ?? null, cacheWriteMicrosPerMTok: p.cache_write_micros_per_mtok ?? null, reasoningMicrosPerMTok: p.reasoning_micros_per_mtok ?? null, free: p.free });
const toLimit = (p: LimitView): LimitRow => ({ id: p.id, scope: p.scope as LimitRowScope, subject: p.subject, rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency });
const toBudget = (b: BudgetView): BudgetRow => ({ id: b.id, scope: b.scope, subjectId: b.subject_id, userId: b.user_id, period: b.period, mode: b.mode, limitMicros: b.limit_micros, createdAt: b.created_at });
const toBucket = (b: UsageBucketView): UsageBucket => ({
  key: b.key, requests: b.requests, errors: b.errors, promptTokens: b.prompt_tokens, completionTokens: b.completion_tokens,
  // 0 from a server that predates the kinds
  cachedTokens: b.cached_tokens ?? 0, cacheWriteTokens: b.cache_write_tokens ?? 0, reasoningTokens: b.reasoning_tokens ?? 0,
  costMicros: b.cost_micros, avgLatencyMs: b.avg_latency_ms,
});

/**
 * A 404 from a by-id route means "no such object", which the local store
 * reports as false/undefined; so does `also` (e.g. 409: the key is revoked).
 */
async function orMissing<T>(p: Promise<T>, missing: T, also?: 'conflict'): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof StoreInputError && (err.code === 'not_found' || err.code === also)) return missing;
    throw err;
  }
}

/** `AdminStore` over a remote Tollgate's admin API. */
export function remoteStore(baseUrl: string, adminToken: string): AdminStore {
  const api = new AdminClient(baseUrl, adminToken);
  const list = async <V, T>(path: string, map: (v: V) => T, query?: Query) => (await api.call<List<V>>('GET', path, { query })).data.map(map);
  /** A key id, or the id of the one live key with this display prefix (several: a conflict, as locally). */
  const liveKeyId = async (idOrPrefix: number | string, verb: string): Promise<number | undefined> => {
    if (typeof idOrPrefix === 'number') return idOrPrefix;
    const live = (await list('/admin/keys', toKey, { prefix: idOrPrefix, revoked: false })).filter((k) => k.prefix === idOrPrefix);
    if (live.length > 1) throw new StoreInputError('conflict', `prefix "${idOrPrefix}" matches ${live.length} keys; ${verb} by id`);
    return live[0]?.id;
  };
  const self: AdminStore = {
    users: {
      create: async ({ name }) => toUser(await api.call<UserView>('POST', '/admin/users', { body: { name } })),
      byName: async (name) => (await list('/admin/users', toUser, { name }))[0],
      list: () => list('/admin/users', toUser),
      credit: async (userId, delta) => (await api.call<UserView>('POST', `/admin/users/${userId}/credit`, { body: { amount_micros: delta } })).balance_micros,
      setDisabled: async (id, disabled) => {
        await api.call('POST', `/admin/users/${id}/${disabled ? 'disable' : 'enable'}`);
      },
    },
    keys: {
      create: async (userId, name, rules) => {
        const created = await api.call<KeyView & { key: string }>('POST', '/admin/keys', { body: { user_id: userId, name, ...rulesBody(rules) } });
        return { key: toKey(created), secret: created.key };
      },
      list: () => list('/admin/keys', toKey),
      listByUser: (userId) => list('/admin/keys', toKey, { user_id: userId }),
      async update(idOrPrefix, patch) {
        const id = await liveKeyId(idOrPrefix, 'update');
        if (id === undefined) return undefined;
        // Unknown or revoked meanwhile: "no live key matched", as locally.
        return orMissing(api.call<KeyView>('PATCH', `/admin/keys/${id}`, { body: rulesBody(patch) }).then(toKey), undefined, 'conflict');
      },
      async revoke(idOrPrefix) {
        const id = await liveKeyId(idOrPrefix, 'revoke');
        if (id === undefined) return false;
        // Unknown or already revoked: "no live key matched", as locally.
        return orMissing(api.call('POST', `/admin/keys/${id}/revoke`).then(() => true), false, 'conflict');
      },
    },
    channels: {
      add: async (input) => toChannel(await api.call<ChannelView>('POST', '/admin/channels', {
        body: { name: input.name, type: input.type, base_url: input.baseUrl, weight: input.weight, priority: input.priority, first_token_timeout_ms: input.firstTokenTimeoutMs, models: input.models.map((m) => ({ model: m.model, upstream_model: m.upstreamModel })) },
      })),
      update: async (id, patch) => toChannel(await api.call<ChannelView>('PATCH', `/admin/channels/${id}`, {
        body: { base_url: patch.baseUrl, weight: patch.weight, priority: patch.priority, first_token_timeout_ms: patch.firstTokenTimeoutMs, name: patch.name },
      })),
      addKey: async (channelId, secret) => toChannelKey(await api.call<ChannelKeyView>('POST', `/admin/channels/${channelId}/keys`, { body: { secret } })),
      setEnabled: (id, enabled) => orMissing(api.call('POST', `/admin/channels/${id}/${enabled ? 'enable' : 'disable'}`).then(() => true), false),
      byName: async (name) => (await list('/admin/channels', toChannel, { name }))[0],
      listFull: () => list('/admin/channels', toChannel),
    },
    prices: {
      set: async (p) => toPrice(await api.call<PriceView>('PUT', '/admin/prices', {
        body: {
          model: p.model, channel_id: p.channelId ?? null, input_micros_per_mtok: p.inputMicrosPerMTok, output_micros_per_mtok: p.outputMicrosPerMTok,
          cached_input_micros_per_mtok: p.cachedInputMicrosPerMTok ?? null, cache_write_micros_per_mtok: p.cacheWriteMicrosPerMTok ?? null, reasoning_micros_per_mtok: p.reasoningMicrosPerMTok ?? null, free: p.free,
        },
      })),
      list: () => list('/admin/prices', toPrice),
    },
    limits: {
      // Absent limits are left out of the JSON, so the server keeps them.
      patch: async (p) => toLimit(await api.call<LimitView>('PATCH', '/admin/limits', { body: { scope: p.scope, subject: p.subject, rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency } })),
      async remove(scope, subject) {
        const policy = (await list('/admin/limits', toLimit, { scope })).find((p) => p.subject === subject);
        if (policy === undefined) return false;
        return orMissing(api.call('DELETE', `/admin/limits/${policy.id}`).then(() => true), false);
      },
      list: () => list('/admin/limits', toLimit),
    },
    budgets: {
      set: async (b) => toBudget(await api.call<BudgetView>('PUT', '/admin/budgets', { body: { scope: b.scope, subject_id: b.subjectId, period: b.period, mode: b.mode, limit_micros: b.limitMicros } })),
      remove: (id) => orMissing(api.call('DELETE', `/admin/budgets/${id}`).then(() => true), false),
      list: (filter = {}) => list('/admin/budgets', toBudget, { scope: filter.scope, subject_id: filter.subjectId }),
    },
    usage: {
      async page(q) {
        const page = await api.call<List<UsageRecordView> & { next_cursor: string | null }>('GET', '/admin/usage', {
          query: { user_id: q.userId, key_id: q.keyId, model: q.model, channel_id: q.channelId, status: q.status, from: q.from, to: q.to, cursor: q.cursor, limit: q.limit },
        });
        return { records: page.data.map(usageRecordFromRow), ...(page.next_cursor === null ? {} : { nextCursor: page.next_cursor }) };
      },
      aggregate: (q) => list('/admin/usage/stats', toBucket, { group_by: q.groupBy, from: q.from, to: q.to, user_id: q.userId, model: q.model }),
    },
    close: async () => {},
  };
  return self;
}
