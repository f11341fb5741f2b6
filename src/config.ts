/**
 * Configuration: `tollgate.yaml` (or `--config`), then env overrides, then
 * validation. Every leaf field `a.bFoo` can be overridden by `TOLLGATE_A_B_FOO`;
 * `DATABASE_URL` and `REDIS_URL` are also read without the prefix because that is
 * how every hosting platform hands them out.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isCidr } from './keys/key-rules.ts';
import { checkTimeZone } from './limiter/budget-calendar.ts';
import { parseRedisUrl } from './sync/redis-url.ts';

/** Env values are strings; accept the usual spellings of booleans ("false" must be false). */
const bool = (fallback: boolean) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    return v;
  }, z.boolean()).default(fallback);
const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(fallback);
/** A REDIS_URL (one server or a cluster), checked at start so a typo is named, not hit at the first request. */
const redisUrlString = () => z.preprocess((v) => (v === '' ? null : v), z.string().superRefine((url, ctx) => {
  try {
    parseRedisUrl(url);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}).nullable()).default(null);
const nullableString = () => z.preprocess((v) => (v === '' ? null : v), z.string().nullable()).default(null);

export const ConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: int(8080, 0, 65535),
  /**
   * Event loops serving the port (`serve --workers N`): worker threads sharing
   * it with SO_REUSEPORT, limits and balances held by the main thread
   * (src/workers/). 0 (the default) = one per available core
   * (os.availableParallelism()); 1 = a single process, no worker threads.
   */
  workers: int(0, 0, 1024),
  dataDir: z.string().min(1).default('./data'),
  /** Required for /admin, /api/metrics and profiling; when null those are disabled. */
  adminToken: z.preprocess((v) => (v === '' ? null : v), z.string().min(16, 'must be at least 16 characters').nullable()).default(null),
  databaseUrl: nullableString(),
  redisUrl: redisUrlString(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Request log lines (one per request); the process log stays on. */
  requestLog: bool(true),
  metrics: bool(true),
  /**
   * OpenTelemetry traces: one span per API request, exported over OTLP/HTTP to
   * `${endpoint}/v1/traces`. Null (the default): tracing is off and its SDK is never loaded.
   * Also read from the standard OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME.
   */
  otel: z.object({
    endpoint: nullableString(),
    serviceName: z.string().min(1).default('tollgate'),
  }).default({ endpoint: null, serviceName: 'tollgate' }),
  bodyLimitBytes: int(4 * 1024 * 1024, 1024),
  server: z.object({
    headersTimeoutMs: int(10_000, 1),
    /** Longest silence while a request body is being received (slow-body clients get 408). */
    bodyIdleTimeoutMs: int(10_000, 1),
    requestTimeoutMs: int(300_000, 1),
    keepAliveTimeoutMs: int(65_000, 1),
    shutdownGraceMs: int(30_000, 0),
  }).prefault({}),
  upstream: z.object({
    connectionsPerOrigin: int(256, 1),
    connectTimeoutMs: int(5_000, 1),
    headersTimeoutMs: int(60_000, 1),
    bodyTimeoutMs: int(300_000, 1),
    maxAttempts: int(3, 1, 20),
    cooldownBaseMs: int(1_000, 1),
    cooldownMaxMs: int(60_000, 1),
    /** What to do with the upstream stream when the client disconnects. */
    onClientAbort: z.enum(['abort', 'drain']).default('abort'),
    drainTimeoutMs: int(5_000, 0),
    /**
     * Whether channels may reach loopback, private (RFC 1918), CGNAT and ULA
     * addresses. Metadata, link-local and unspecified addresses are always refused.
     */
    allowPrivateNetworks: bool(true),
  }).prefault({}),
  sqlite: z.object({
    synchronous: z.enum(['OFF', 'NORMAL', 'FULL']).default('NORMAL'),
    cacheSizeKiB: int(16_384, 0),
    mmapSizeBytes: int(268_435_456, 0),
    busyTimeoutMs: int(5_000, 0),
  }).prefault({}),
  postgres: z.object({ poolSize: int(10, 1), schema: z.string().min(1).default('public') }).prefault({}),
  redis: z.object({
    commandTimeoutMs: int(200, 1),
    failPolicy: z.enum(['open', 'closed']).default('open'),
    /**
     * Priced requests while Redis is down: 'closed' refuses them (503); 'local'
     * lets each node spend from its own in-memory ledger (overspend bound in docs/metering.md).
     */
    creditFailPolicy: z.enum(['closed', 'local']).default('closed'),
    /** How often one node compares the Redis balances with the store's and exports the drift (0 = never). */
    reconcileMs: int(60_000, 0),
    /** Namespace of every Redis key (several gateways may share one Redis). */
    keyPrefix: z.string().min(1).default('tollgate:'),
    /**
     * Limiter key shards, spread by user over a Redis Cluster's masters
     * (docs/redis-cluster.md). 0 = automatic: 1 for one Redis server, 16 for a cluster.
     * Every gateway sharing a Redis must use the same value.
     */
    shards: int(0, 0, 1_024),
  }).prefault({}),
  metering: z.object({
    /** Reserve this many completion tokens when the request sets no max_tokens. */
    defaultMaxTokens: int(4_096, 1),
    overdraftMicros: int(0, 0),
    batchSize: int(512, 1),
    flushIntervalMs: int(50, 1),
    /** Records kept in memory before the writer spills to the spool file. */
    maxQueue: int(50_000, 1),
    /** How often loaded balances are re-read from the store, so spending on other nodes is seen (0 = never). */
    balanceRefreshMs: int(1_000, 0),
  }).prefault({}),
  /** Spend budgets (docs/metering.md): calendar periods (hour, day, week from Monday, month) begin at midnight etc. of this IANA time zone. */
  budgets: z.object({
    timeZone: z.string().min(1).refine((tz) => {
      try {
        checkTimeZone(tz);
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as UTC or Europe/Paris').default('UTC'),
  }).prefault({}),
  /**
   * Where the client address for key address allow-lists comes from. null: the
   * TCP peer (a header is ignored). A header name (e.g. x-forwarded-for): its
   * right-most entry not in `trustedProxies` (src/gateway/client-address.ts).
   */
  trustedProxyHeader: z.preprocess((v) => (v === '' ? null : typeof v === 'string' ? v.trim().toLowerCase() : v), z.string().regex(/^[a-z0-9-]+$/, 'must be a header name').nullable()).default(null),
  /** CIDRs of the proxies allowed to set trustedProxyHeader (empty: any peer); in env, comma-separated. */
  trustedProxies: z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((c) => c.trim()).filter((c) => c !== '') : v),
    // Checked as a whole, so the message names the field (and its env), not an index into the env string.
    z.array(z.string()).superRefine((list, ctx) => {
      const bad = list.find((c) => !isCidr(c));
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `'${bad}' is not a CIDR such as 10.0.0.0/8 or ::1/128` });
    }),
  ).default([]),
  /**
   * The two-level cache (docs/cache.md): L1 in this process, bounded by bytes;
   * L2 in Redis (REDIS_URL) with invalidation over pub/sub.
   */
  cache: z.object({
    /** The exact response cache for model calls; requests still opt in (models, header). */
    enabled: bool(false),
    /** Models whose requests are cached for every key ('*': all); in env, comma-separated. */
    models: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((m) => m.trim()).filter((m) => m !== '') : v), z.array(z.string().min(1))).default([]),
    /** Bytes of entries held in each process (LRU beyond). */
    l1MaxBytes: int(64 * 1024 * 1024, 1024),
    /** How long a stored answer is served. */
    ttlMs: int(300_000, 1),
    /** A larger answer is delivered but not stored. */
    maxEntryBytes: int(1024 * 1024, 1),
    /** One entry per request for all users (true) or one per user (false). */
    shared: bool(false),
    /** A hit costs this many thousandths of the original answer's cost (0: free). */
    hitPricePermille: int(0, 0, 1000),
    /** Account API usage reads are served from the cache this long (0: never cached). */
    accountTtlMs: int(1_000, 0, 60_000),
  }).prefault({}),
  /** How often a server polls the store's change feed (revocations, channels, prices, limits). */
  changePollMs: int(250, 10, 60_000),
  /** The built-in mock channel: an in-process mock upstream so a fresh install answers at once. */
  mockChannel: bool(true),
  profiling: z.object({ enabled: bool(false), port: int(6060, 0, 65535) }).prefault({}),
  /**
   * The operator side (/admin, /dashboard, /api/metrics) on a listener of its
   * own, to keep it off the public interface; port null = served on the main listener.
   */
  admin: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.preprocess((v) => (v === '' || v === null ? null : typeof v === 'string' ? Number(v) : v), z.number().int().min(0).max(65535).nullable()).default(null),
  }).prefault({}),
  /** Service routes under /svc/<service>/... and the secure hop between two nodes (docs/service-routes.md). */
  services: z.object({
    enabled: bool(true),
    /** Records per batch insert into service_calls, and the longest a record waits. */
    recordBatchSize: int(512, 1),
    recordFlushMs: int(100, 1),
    /** Records kept in memory; beyond this new records are dropped and counted. */
    recordMaxQueue: int(50_000, 1),
    hop: z.object({
      /** Bodies shorter than this (by content-length) are not compressed. */
      compressMinBytes: int(1_024, 0),
      /** lz4: one LZ4 block for bodies held whole (≤ 64 KiB), zstd streams for longer ones (service-routes.md). */
      compression: z.enum(['lz4', 'zstd', 'gzip', 'none']).default('lz4'),
      /** Plaintext bytes per encrypted frame. */
      frameBytes: int(65_536, 1_024, 16_777_215),
      /** How an egress sends calls whose body is held whole: 'mux', many calls on one upgraded connection, or 'http', one request each (service-routes.md). */
      transport: z.enum(['mux', 'http']).default('mux'),
      /** A hop request is accepted this long before or after its timestamp; its nonce is remembered as long. */
      replayWindowMs: int(30_000, 1_000),
      /** Bound of the seen-nonce cache; when full of live nonces, new hop requests are refused (503). */
      maxNonces: int(200_000, 1_000),
    }).prefault({}),
    /** This node forwards calls of services marked remote to an ingress node. */
    egress: z.object({
      ingressUrl: z.url(),
      linkKeyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
      linkKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url (tollgate link-key generate)'),
    }).nullable().default(null),
    /** This node accepts hop requests signed with one of these keys (two during a rotation). */
    ingress: z.object({
      linkKeys: z.array(z.object({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
        key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url (tollgate link-key generate)'),
      })).default([]),
    }).prefault({}),
  }).prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

const camelToEnv = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/** Leaf paths of the schema, e.g. ['upstream', 'maxAttempts']. */
function leafPaths(defaults: Record<string, unknown>, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(defaults)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...leafPaths(v as Record<string, unknown>, [...prefix, k]));
    else out.push([...prefix, k]);
  }
  return out;
}

/** The env name that overrides a field: ['upstream','maxAttempts'] → TOLLGATE_UPSTREAM_MAX_ATTEMPTS. */
export const envNameFor = (path: readonly string[]) => 'TOLLGATE_' + path.map(camelToEnv).join('_');

function setPath(obj: Record<string, any>, path: readonly string[], value: unknown): void {
  let node = obj;
  for (const key of path.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key];
  }
  node[path[path.length - 1]] = value;
}

/**
 * The deployment directory: the nearest of `cwd` and its parents that holds
 * `tollgate.yaml` or `data/tollgate.db`, the way git finds `.git`, so a
 * command run from a subdirectory uses the deployment's store instead of
 * creating a new one there. Null when there is none.
 */
export function findDeploymentDir(cwd: string): string | null {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'tollgate.yaml')) || existsSync(join(dir, 'data', 'tollgate.db'))) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * Load, override and validate. Throws ConfigError naming the bad field and value.
 * Without `--config` / TOLLGATE_CONFIG, the config file and a relative data
 * directory (unless TOLLGATE_DATA_DIR names it) belong to the deployment
 * directory found from `cwd` (see findDeploymentDir).
 */
export function loadConfig(opts: { file?: string | null; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Config {
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? env.TOLLGATE_CONFIG ?? null;
  const root = explicit === null ? findDeploymentDir(opts.cwd ?? process.cwd()) : null;
  const found = root === null ? null : join(root, 'tollgate.yaml');
  const file = explicit ?? (found !== null && existsSync(found) ? found : null);
  let raw: Record<string, any> = {};
  if (file) {
    try {
      raw = (parseYaml(readFileSync(file, 'utf8')) as Record<string, any>) ?? {};
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${file} must hold a YAML mapping`);
  }
  const defaults = ConfigSchema.parse({}) as unknown as Record<string, unknown>;
  for (const path of leafPaths(defaults)) {
    const value = env[envNameFor(path)];
    if (value !== undefined) setPath(raw, path, value);
  }
  if (env.DATABASE_URL !== undefined && env.TOLLGATE_DATABASE_URL === undefined) raw.databaseUrl = env.DATABASE_URL;
  if (env.REDIS_URL !== undefined && env.TOLLGATE_REDIS_URL === undefined) raw.redisUrl = env.REDIS_URL;
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && env.TOLLGATE_OTEL_ENDPOINT === undefined) (raw.otel ??= {}).endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (env.OTEL_SERVICE_NAME !== undefined && env.TOLLGATE_OTEL_SERVICE_NAME === undefined) (raw.otel ??= {}).serviceName = env.OTEL_SERVICE_NAME;
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      const value = path.reduce<any>((node, key) => (node == null ? undefined : node[key]), raw);
      return `  ${path.join('.')} (env ${envNameFor(path)}) = ${JSON.stringify(value)}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration${file ? ` in ${file}` : ''}:\n${lines.join('\n')}`);
  }
  const config = result.data;
  if (config.trustedProxies.length > 0 && config.trustedProxyHeader === null) {
    throw new ConfigError(`invalid configuration${file ? ` in ${file}` : ''}: trustedProxies (env TOLLGATE_TRUSTED_PROXIES) applies only with trustedProxyHeader (env TOLLGATE_TRUSTED_PROXY_HEADER); set both or neither`);
  }
  if (root !== null && env.TOLLGATE_DATA_DIR === undefined && !isAbsolute(config.dataDir)) config.dataDir = resolve(root, config.dataDir);
  return config;
}
