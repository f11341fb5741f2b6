/**
 * Row types of the Tollgate database, as Kysely sees them.
 *
 * Columns are snake_case, exactly as in the tables. Times are epoch
 * milliseconds and money is integer micro-credits; both arrive as JS numbers
 * (better-sqlite3 returns numbers, and the PostgreSQL pool parses int8 to
 * number). Flags are stored as integers 0/1 on both dialects so that every
 * query has one code path; the repositories expose them as `boolean`.
 */
import type { Generated } from 'kysely';
import type { UsageRecordRow } from './usage-columns.ts';

/** 0 or 1: a boolean as stored. */
export type Flag = 0 | 1;

/** Table `users`. */
export interface UsersTable {
  id: Generated<number>;
  name: string;
  balance_micros: Generated<number>;
  /** Usage debits applied to balance_micros so far (one per applyBatch that debited the user). */
  debit_seq: Generated<number>;
  disabled: Generated<Flag>;
  created_at: number;
}

/** Table `client_keys`. */
export interface ClientKeysTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  key_hash: string;
  prefix: string;
  revoked_at: number | null;
  created_at: number;
  /** Epoch ms after which the key is refused; null: never. */
  expires_at: number | null;
  /** JSON array of the models the key may use; null: every model. */
  models: string | null;
  /** JSON array of the CIDRs the key may be used from; null: any address. */
  ips: string | null;
  /** 1: the key's model requests use the response cache (docs/cache.md); 0: only when they ask. */
  response_cache: Generated<number>;
}

/** Table `channels`. */
export interface ChannelsTable {
  id: Generated<number>;
  name: string;
  type: string;
  base_url: string;
  weight: Generated<number>;
  priority: Generated<number>;
  enabled: Generated<Flag>;
  created_at: number;
  first_token_timeout_ms: number | null;
}

/** Table `channel_models`. */
export interface ChannelModelsTable {
  channel_id: number;
  model: string;
  upstream_model: string;
}

/** Table `channel_keys`. */
export interface ChannelKeysTable {
  id: Generated<number>;
  channel_id: number;
  secret: string;
  enabled: Generated<Flag>;
  created_at: number;
}

/** Table `prices`. */
export interface PricesTable {
  id: Generated<number>;
  model: string;
  /** null: the price applies on any channel without a channel-specific price. */
  channel_id: number | null;
  input_micros_per_mtok: number;
  output_micros_per_mtok: number;
  /** null: priced at input_micros_per_mtok. */
  cached_input_micros_per_mtok: number | null;
  /** null: priced at input_micros_per_mtok. */
  cache_write_micros_per_mtok: number | null;
  /** null: priced at output_micros_per_mtok. */
  reasoning_micros_per_mtok: number | null;
  free: Generated<Flag>;
}

/** Table `limit_policies`. */
export interface LimitPoliciesTable {
  id: Generated<number>;
  scope: string;
  subject: string;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** Table `budgets`: spend budgets (store/budget-repo.ts). */
export interface BudgetsTable {
  id: Generated<number>;
  /** 'user' or 'key'. */
  scope: string;
  subject_id: number;
  /** 'hour', 'day', 'week' or 'month'. */
  period: string;
  /** 'calendar' or 'rolling'. */
  mode: string;
  limit_micros: number;
  created_at: number;
}

/** Table `usage_records`: its columns are defined in usage-columns.ts. */
export interface UsageRecordsTable extends UsageRecordRow {
  id: Generated<number>;
}

/** Table `change_events`. */
export interface ChangeEventsTable {
  id: Generated<number>;
  ts: number;
  kind: string;
  subject: string;
  delta: Generated<number>;
}

export interface UsageTotalsTable {
  user_id: number;
  model: string;
  /** Epoch ms of the UTC day's start. */
  day: number;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
}

/** Table `proxies`: `credentials` is sealed (secrets/secret-box.ts), never in clear. */
export interface ProxiesTable {
  id: Generated<number>;
  name: string;
  url: string;
  credentials: string | null;
  channel_id: number | null;
  enabled: Generated<Flag>;
  created_at: number;
}

/** Table `proxy_bindings`: a user or client key sent through one proxy. */
export interface ProxyBindingsTable {
  scope: string;
  subject_id: number;
  proxy_id: number;
  created_at: number;
}

/** The whole database, for `Kysely<Database>`. */
export interface Database {
  users: UsersTable;
  client_keys: ClientKeysTable;
  channels: ChannelsTable;
  channel_models: ChannelModelsTable;
  channel_keys: ChannelKeysTable;
  prices: PricesTable;
  limit_policies: LimitPoliciesTable;
  budgets: BudgetsTable;
  usage_records: UsageRecordsTable;
  usage_totals: UsageTotalsTable;
  change_events: ChangeEventsTable;
  proxies: ProxiesTable;
  proxy_bindings: ProxyBindingsTable;
}

/** Store dialect names. */
export type Dialect = 'sqlite' | 'postgres';
