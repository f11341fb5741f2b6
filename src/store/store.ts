/**
 * The persistence layer: one Kysely query layer over SQLite (embedded
 * default) or PostgreSQL (scale-out), chosen by `databaseUrl`, with the
 * repositories the gateway, admin API and CLI use.
 */
import type { Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { EventRepo } from './change-feed.ts';
import { ChannelRepo } from './channel-repo.ts';
import { resealSecrets, sealPlaintextSecrets, type ResealResult } from './channel-secrets.ts';
import { loadKeyRing } from '../secrets/master-key.ts';
import { SecretBox } from '../secrets/secret-box.ts';
import { StoreInputError } from './errors.ts';
import { KeyRepo } from './key-repo.ts';
import { LimitRepo } from './limit-repo.ts';
import { BudgetRepo } from './budget-repo.ts';
import { migrationProvider } from './migrations.ts';
import { openPostgres, type PostgresOptions } from './postgres.ts';
import { PriceRepo } from './price-repo.ts';
import type { Database, Dialect } from './schema.ts';
import { openSqlite, withImmediateTransaction, type SqliteOptions } from './sqlite.ts';
import { UsageRepo } from './usage-repo.ts';
import { FilterRepo } from './filter-repo.ts';
import { ServiceRepo } from './service-repo.ts';
import { ProxyRepo } from './proxy-repo.ts';
import { SqliteCallBatch } from './sqlite-call-batch.ts';
import { SqliteUsageBatch } from './sqlite-usage-batch.ts';
import { UserRepo } from './user-repo.ts';

export type { Database, Dialect } from './schema.ts';
export { StoreInputError, type StoreInputCode } from './errors.ts';
export { EventRepo, type ChangeEvent, type ChangeKind } from './change-feed.ts';
export { UserRepo, type User } from './user-repo.ts';
export { KeyRepo, type ClientKey, type KeyRow, type KeyRules, type KeyRulesPatch } from './key-repo.ts';
export {
  ChannelRepo,
  type Channel,
  type ChannelFull,
  type ChannelInput,
  type ChannelKey,
  type ChannelModel,
  type ChannelPatch,
  type ChannelType,
} from './channel-repo.ts';
export { PriceRepo, type StoredPrice, type PriceInput } from './price-repo.ts';
export { LimitRepo, type LimitInput, type LimitPatch, type LimitRow, type LimitRowScope } from './limit-repo.ts';
export { BudgetRepo, type BudgetFilter, type BudgetInput, type BudgetRow } from './budget-repo.ts';
export {
  UsageRepo,
  type ApplyBatchResult,
  type ResponseOwner,
  type UsagePage,
  type UsagePageQuery,
  type UsageTotals,
  type UsageTotalsQuery,
} from './usage-repo.ts';
export type { UsageRecord, UsageRecordInsert } from './usage-columns.ts';
export type { UsageAggregateQuery, UsageBucket, UsageGroupBy } from './usage-stats.ts';
export { ServiceRepo, type Service, type ServiceInput, type ServiceRule, type ServiceRuleInput, type ServiceTarget, type ServiceCall } from './service-repo.ts';
export { ProxyRepo, parseProxyUrl, type OutboundProxy, type ProxyFull, type ProxyInput, type ProxyKind, type ProxyBinding, type ProxyBindingScope } from './proxy-repo.ts';
export type { ResealResult } from './channel-secrets.ts';
export type { SqliteOptions } from './sqlite.ts';
export type { PostgresOptions } from './postgres.ts';

/** How to open the store; see `openStore`. */
export interface StoreOptions {
  /** postgres:// or postgresql:// selects PostgreSQL; absent, null or '' selects SQLite. */
  databaseUrl?: string | null;
  /** SQLite file is `${dataDir}/tollgate.db`; the directory is created. */
  dataDir: string;
  /** Defaults: synchronous NORMAL, 16384 KiB cache, 256 MiB mmap, 5000 ms busy timeout; WAL always. */
  sqlite?: SqliteOptions;
  /** Defaults: pool of 10, schema 'public'. */
  postgres?: PostgresOptions;
  /**
   * Seals upstream key secrets at rest. Default: the master key from env
   * TOLLGATE_SECRET_KEY or `${dataDir}/secret.key` (see secrets/master-key.ts),
   * loaded when a secret is first sealed or opened.
   */
  secrets?: SecretBox;
}

/** An open store: the dialect, the raw Kysely instance, and the repositories. */
export interface Store {
  readonly dialect: Dialect;
  readonly db: Kysely<Database>;
  readonly users: UserRepo;
  readonly keys: KeyRepo;
  readonly channels: ChannelRepo;
  readonly prices: PriceRepo;
  readonly limits: LimitRepo;
  readonly budgets: BudgetRepo;
  readonly usage: UsageRepo;
  readonly events: EventRepo;
  readonly services: ServiceRepo;
  readonly filters: FilterRepo;
  readonly proxies: ProxyRepo;
  /** Re-seals every upstream key secret and proxy credential with the current master key, in one transaction (`tollgate secrets rotate`). */
  rotateSecrets(): Promise<ResealResult>;
  /** The PostgreSQL pool's state for metrics; null on SQLite (one connection, no pool). */
  poolStats(): { total: number; idle: number; waiting: number } | null;
  /** Closes the SQLite file or ends the pool. Idempotent. */
  close(): Promise<void>;
}

/** Which backend a database URL selects; anything else is `StoreInputError('invalid')`. */
export function dialectOf(databaseUrl: string | null | undefined): Dialect {
  if (databaseUrl === undefined || databaseUrl === null || databaseUrl === '') return 'sqlite';
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return 'postgres';
  throw new StoreInputError('invalid', 'databaseUrl must start with postgres:// or postgresql:// (leave it unset for SQLite)');
}

/** Opens the store and applies pending migrations before returning. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const dialect = dialectOf(opts.databaseUrl);
  const sqlite = dialect === 'sqlite' ? openSqlite(opts.dataDir, opts.sqlite) : null;
  const postgres = sqlite === null ? await openPostgres(opts.databaseUrl!, opts.postgres) : null;
  const db = sqlite !== null ? sqlite.db : postgres!.db;
  const secrets = opts.secrets ?? new SecretBox(() => loadKeyRing({ env: process.env, dataDir: opts.dataDir }));
  try {
    await migrate(db, dialect, opts.postgres?.schema ?? 'public');
    // Not a Kysely migration: it needs the master key, and must also catch rows written later by an older node.
    await sealPlaintextSecrets(db, dialect, secrets);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    dialect,
    db,
    users: new UserRepo(db, dialect),
    keys: new KeyRepo(db, dialect),
    channels: new ChannelRepo(db, dialect, secrets),
    prices: new PriceRepo(db, dialect),
    limits: new LimitRepo(db, dialect),
    budgets: new BudgetRepo(db, dialect),
    usage: new UsageRepo(db, dialect, sqlite === null ? null : new SqliteUsageBatch(sqlite.raw)),
    events: new EventRepo(db, dialect),
    services: new ServiceRepo(db, dialect, sqlite === null ? null : new SqliteCallBatch(sqlite.raw)),
    filters: new FilterRepo(db, dialect),
    proxies: new ProxyRepo(db, dialect, secrets),
    rotateSecrets: () => resealSecrets(db, dialect, secrets),
    poolStats: () => (postgres === null ? null : { total: postgres.pool.totalCount, idle: postgres.pool.idleCount, waiting: postgres.pool.waitingCount }),
    close: () => (closing ??= db.destroy()),
  };
}

async function migrate(db: Kysely<Database>, dialect: Dialect, schema: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    // Without it Kysely looks for its bookkeeping table in every schema, and
    // a kysely_migration table in another schema would fool it.
    migrationTableSchema: dialect === 'postgres' ? schema : undefined,
  });
  const run = async () => {
    const { error } = await migrator.migrateToLatest();
    if (error !== undefined) throw error;
  };
  await (dialect === 'sqlite' ? withImmediateTransaction(db, run) : run());
}
