/**
 * The JSON shapes of the admin API (snake_case, money in integer
 * micro-credits, times in epoch ms) and their schemas, which the OpenAPI
 * document publishes under `components.schemas`. The remote CLI reads the
 * same types back.
 */
import type { Gateway } from '../gateway/gateway.ts';
import type { Channel, ChannelFull, ClientKey, LimitRow, StoredPrice, UsageBucket, UsageRecord, UsageTotals, User } from '../store/store.ts';
import { USAGE_COLUMNS, usageRow, type UsageColumnKind, type UsageRecordRow } from '../store/usage-columns.ts';
import type { JsonSchema } from './admin-schema.ts';

/** A user; `balance_micros` is the stored balance. */
export interface UserView {
  object: 'user';
  id: number;
  name: string;
  /** As stored: settled usage is debited by the batched writer, so it may trail the live balance briefly. */
  balance_micros: number;
  /** This node's live balance and open reservations; null when the user has not been loaded here. */
  live_balance_micros: number | null;
  reserved_micros: number | null;
  disabled: boolean;
  created_at: number;
}

/** A client key: its display prefix, never the key or its hash. */
export interface KeyView {
  object: 'key';
  id: number;
  user_id: number;
  name: string;
  prefix: string;
  revoked: boolean;
  revoked_at: number | null;
  created_at: number;
  /** Epoch ms from which the key is refused; null: never. */
  expires_at: number | null;
  /** The only models the key may use; null: every model. */
  models: string[] | null;
  /** CIDRs the key may be used from; null: any address. */
  ips: string[] | null;
  /** The key's model requests use the response cache without asking. */
  cache: boolean;
}

/** Health of a channel or upstream key on this node. */
export interface HealthView { cooling: boolean; failures: number; cooldown_remaining_ms: number }

/** An upstream key of a channel, secret withheld. */
export interface ChannelKeyView {
  object: 'channel_key';
  id: number;
  channel_id: number;
  enabled: boolean;
  /** The last characters of the secret, for recognising it; the secret itself is never returned. */
  hint: string;
  created_at: number;
  health: HealthView;
}

/** A channel with its models, upstream keys and this node's view of its health. */
export interface ChannelView {
  object: 'channel';
  id: number;
  name: string;
  type: string;
  base_url: string;
  weight: number;
  priority: number;
  /** null: no first-token timeout. */
  first_token_timeout_ms: number | null;
  enabled: boolean;
  /** Whether this node's live route table currently includes the channel. */
  routed: boolean;
  created_at: number;
  models: Array<{ model: string; upstream_model: string }>;
  keys: ChannelKeyView[];
  health: HealthView;
}

/** A price per 1M tokens; `channel_id` null applies on any channel without its own. */
export interface PriceView {
  object: 'price';
  id: number;
  model: string;
  channel_id: number | null;
  input_micros_per_mtok: number;
  output_micros_per_mtok: number;
  /** null: cached prompt tokens cost the input price. */
  cached_input_micros_per_mtok: number | null;
  /** null: prompt tokens written to the cache cost the input price. */
  cache_write_micros_per_mtok: number | null;
  /** null: reasoning tokens cost the output price. */
  reasoning_micros_per_mtok: number | null;
  free: boolean;
}

/** A rate-limit policy; null limits are unlimited. */
export interface LimitView {
  object: 'limit_policy';
  id: number;
  scope: string;
  subject: string;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** One usage record: its columns (usage-columns.ts) as stored. */
export interface UsageRecordView extends UsageRecordRow {
  object: 'usage_record';
  id: number;
}

/** One group of `GET /admin/usage/stats`. */
export interface UsageBucketView {
  key: number | string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
  avg_latency_ms: number;
}

/** Sums over usage records as the API shows them. */
export type UsageTotalsView = Omit<UsageBucketView, 'key' | 'errors' | 'avg_latency_ms'>;

/** The user as the API shows it, with this node's live balance when loaded. */
export async function userView(u: User, gw: Gateway): Promise<UserView> {
  const live = await gw.gate.balance(u.id, false);
  return {
    object: 'user',
    id: u.id,
    name: u.name,
    balance_micros: u.balanceMicros,
    live_balance_micros: live?.balanceMicros ?? null,
    reserved_micros: live?.reservedMicros ?? null,
    disabled: u.disabled,
    created_at: u.createdAt,
  };
}

/** The key as the API shows it. */
export function keyView(k: Omit<ClientKey, 'keyHash'>): KeyView {
  return {
    object: 'key', id: k.id, user_id: k.userId, name: k.name, prefix: k.prefix, revoked: k.revokedAt !== null, revoked_at: k.revokedAt, created_at: k.createdAt,
    expires_at: k.expiresAt, models: k.models, ips: k.ips, cache: k.cache,
  };
}

/** Currently cooling targets by health id (`channel:<id>`, `key:<id>`), read once per response. */
export type CoolingIndex = ReadonlyMap<string, { failures: number; remainingMs: number }>;

/** Indexes `gw.health.cooling(now)` by target id. */
export function coolingIndex(gw: Gateway, now: number): CoolingIndex {
  return new Map(gw.health.cooling(now).map((c) => [c.id, c]));
}

function healthView(cooling: CoolingIndex, id: string): HealthView {
  const c = cooling.get(id);
  return c === undefined ? { cooling: false, failures: 0, cooldown_remaining_ms: 0 } : { cooling: true, failures: c.failures, cooldown_remaining_ms: c.remainingMs };
}

function secretHint(secret: string): string {
  // Short secrets get no hint: four characters of eight would be half the secret.
  return secret.length >= 16 ? `…${secret.slice(-4)}` : '…';
}

/** The upstream key as the API shows it. */
export function channelKeyView(k: { id: number; channelId: number; secret: string; enabled: boolean; createdAt: number }, cooling: CoolingIndex): ChannelKeyView {
  return { object: 'channel_key', id: k.id, channel_id: k.channelId, enabled: k.enabled, hint: secretHint(k.secret), created_at: k.createdAt, health: healthView(cooling, `key:${k.id}`) };
}

/** The channel as the API shows it; `routed` and `health` describe this node. */
export function channelView(c: ChannelFull, gw: Gateway, cooling: CoolingIndex): ChannelView {
  return {
    object: 'channel',
    ...channelFields(c),
    routed: gw.routes.channels.some((r) => r.id === c.id),
    models: c.models.map((m) => ({ model: m.model, upstream_model: m.upstreamModel })),
    keys: c.keys.map((k) => channelKeyView(k, cooling)),
    health: healthView(cooling, `channel:${c.id}`),
  };
}

function channelFields(c: Channel) {
  return { id: c.id, name: c.name, type: c.type, base_url: c.baseUrl, weight: c.weight, priority: c.priority, first_token_timeout_ms: c.firstTokenTimeoutMs, enabled: c.enabled, created_at: c.createdAt };
}

/** The price as the API shows it. */
export function priceView(p: StoredPrice): PriceView {
  return {
    object: 'price', id: p.id, model: p.model, channel_id: p.channelId, input_micros_per_mtok: p.inputMicrosPerMTok, output_micros_per_mtok: p.outputMicrosPerMTok,
    cached_input_micros_per_mtok: p.cachedInputMicrosPerMTok, cache_write_micros_per_mtok: p.cacheWriteMicrosPerMTok, reasoning_micros_per_mtok: p.reasoningMicrosPerMTok, free: p.free,
  };
}

/** The policy as the API shows it. */
export function limitView(p: LimitRow): LimitView {
  return { object: 'limit_policy', id: p.id, scope: p.scope, subject: p.subject, rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency };
}

/** The usage record as the API shows it. */
export function usageRecordView(r: UsageRecord): UsageRecordView {
  return { object: 'usage_record', id: r.id, ...usageRow(r) };
}

/** The aggregate group as the API shows it. */
export function usageBucketView(b: UsageBucket): UsageBucketView {
  return { key: b.key, errors: b.errors, ...usageTotalsView(b), avg_latency_ms: b.avgLatencyMs };
}

/** The sums as the API shows them (the kinds are parts of prompt and completion tokens). */
export function usageTotalsView(t: UsageTotals): UsageTotalsView {
  return {
    requests: t.requests, prompt_tokens: t.promptTokens, completion_tokens: t.completionTokens,
    cached_tokens: t.cachedTokens, cache_write_tokens: t.cacheWriteTokens, reasoning_tokens: t.reasoningTokens, cost_micros: t.costMicros,
  };
}

// ---- schemas of the views, for the OpenAPI document -------------------------

const I = { type: 'integer' } as const;
const NI = { type: ['integer', 'null'] } as const;
const S = { type: 'string' } as const;
const NS = { type: ['string', 'null'] } as const;
const B = { type: 'boolean' } as const;
/** A list of strings, or null. */
const NSA = { type: ['array', 'null'], items: S } as const;
const KIND_SCHEMAS = {
  key: S, int: I, 'int-or-null': NI, uint: I, 'uint-or-null': NI, string: S, 'string-or-null': NS, outcome: S,
} as const satisfies Record<UsageColumnKind, JsonSchema>;
const obj = (name: string, properties: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', properties: { object: { const: name }, ...properties }, required: ['object', ...Object.keys(properties)] });
const health: JsonSchema = { type: 'object', properties: { cooling: B, failures: I, cooldown_remaining_ms: I }, required: ['cooling', 'failures', 'cooldown_remaining_ms'] };

const TOTALS = { requests: I, prompt_tokens: I, completion_tokens: I, cached_tokens: I, cache_write_tokens: I, reasoning_tokens: I, cost_micros: I };

/** `components.schemas` of the OpenAPI document. */
export const VIEW_SCHEMAS: Record<string, JsonSchema> = {
  User: obj('user', { id: I, name: S, balance_micros: I, live_balance_micros: NI, reserved_micros: NI, disabled: B, created_at: I }),
  Key: obj('key', { id: I, user_id: I, name: S, prefix: S, revoked: B, revoked_at: NI, created_at: I, expires_at: NI, models: NSA, ips: NSA, cache: B }),
  CreatedKey: {
    allOf: [{ $ref: '#/components/schemas/Key' }, { type: 'object', properties: { key: { type: 'string', description: 'The key itself; shown once, only here.' } }, required: ['key'] }],
  },
  ChannelKey: obj('channel_key', { id: I, channel_id: I, enabled: B, hint: S, created_at: I, health }),
  Channel: obj('channel', {
    id: I, name: S, type: S, base_url: S, weight: I, priority: I, first_token_timeout_ms: NI, enabled: B, routed: B, created_at: I,
    models: { type: 'array', items: { type: 'object', properties: { model: S, upstream_model: S }, required: ['model', 'upstream_model'] } },
    keys: { type: 'array', items: { $ref: '#/components/schemas/ChannelKey' } },
    health,
  }),
  Price: obj('price', { id: I, model: S, channel_id: NI, input_micros_per_mtok: I, output_micros_per_mtok: I, cached_input_micros_per_mtok: NI, cache_write_micros_per_mtok: NI, reasoning_micros_per_mtok: NI, free: B }),
  LimitPolicy: obj('limit_policy', { id: I, scope: S, subject: S, rpm: NI, tpm: NI, concurrency: NI }),
  UsageRecord: obj('usage_record', { id: I, ...Object.fromEntries(USAGE_COLUMNS.map((c) => [c.column, KIND_SCHEMAS[c.kind]])) }),
  UsageBucket: {
    type: 'object',
    properties: { key: { type: ['integer', 'string'] }, errors: I, ...TOTALS, avg_latency_ms: I },
    required: ['key', 'errors', ...Object.keys(TOTALS), 'avg_latency_ms'],
  },
  UsageTotals: { type: 'object', properties: TOTALS, required: Object.keys(TOTALS) },
  Deleted: { type: 'object', properties: { object: S, id: I, deleted: { const: true } }, required: ['object', 'id', 'deleted'] },
  Error: {
    type: 'object',
    properties: { error: { type: 'object', properties: { message: S, type: S, param: NS, code: NS }, required: ['message', 'type', 'param', 'code'] } },
    required: ['error'],
  },
};
