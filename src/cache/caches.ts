/**
 * Builds the gateway's two-level caches from the configuration, sharing one
 * Redis tier (when REDIS_URL is set) and one set of metrics: the response
 * cache (cache.enabled) and the account API read cache (cache.accountTtlMs > 0).
 */
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { TwoLevelCache, type EntryCodec } from './two-level-cache.ts';
import { RedisTier } from './redis-tier.ts';
import { ResponseCache } from './response-cache.ts';
import { cachedAnswerCodec } from './cached-answer.ts';
import { CacheMetrics } from './cache-metrics.ts';

export interface Caches {
  readonly response: ResponseCache | null;
  readonly account: TwoLevelCache<unknown> | null;
  /** Connects the Redis tier (if any); waits at most `timeoutMs`. */
  start(timeoutMs: number): Promise<void>;
  close(): void;
}

/** Account reads are small JSON documents; stored as their JSON text. */
const jsonCodec: EntryCodec<unknown> = {
  encode: (value, expiresAt) => Buffer.from(JSON.stringify({ expiresAt, value })),
  decode(bytes) {
    try {
      const entry = JSON.parse(bytes.toString('utf8'));
      return typeof entry?.expiresAt === 'number' && 'value' in entry ? { value: entry.value, expiresAt: entry.expiresAt } : null;
    } catch {
      return null;
    }
  },
  // An estimate, not a serialisation per store: a usage page is a few hundred bytes per record.
  sizeOf: () => 16 * 1024,
};

/** The account cache's share of cache.l1MaxBytes when both caches are on. */
const ACCOUNT_SHARE = 8;

export function openCaches(config: Config, registry: Registry | null, onRedisError: (err: Error) => void): Caches {
  const c = config.cache;
  if (!c.enabled && c.accountTtlMs === 0) return { response: null, account: null, start: async () => undefined, close: () => undefined };
  const tier = config.redisUrl === null ? null : new RedisTier({ url: config.redisUrl, keyPrefix: config.redis.keyPrefix, commandTimeoutMs: config.redis.commandTimeoutMs, onError: onRedisError });
  const metrics = registry === null ? null : new CacheMetrics(registry);
  const accountBytes = c.enabled ? Math.floor(c.l1MaxBytes / ACCOUNT_SHARE) : c.l1MaxBytes;
  const response = !c.enabled ? null : new ResponseCache(c, new TwoLevelCache({
    name: 'response', maxBytes: c.l1MaxBytes - (c.accountTtlMs > 0 ? accountBytes : 0), ttlMs: c.ttlMs, codec: cachedAnswerCodec, l2: tier, observer: metrics?.observerFor('response') ?? null,
  }));
  const account = c.accountTtlMs === 0 ? null : new TwoLevelCache<unknown>({
    name: 'account', maxBytes: accountBytes, ttlMs: c.accountTtlMs, codec: jsonCodec, l2: tier, observer: metrics?.observerFor('account') ?? null,
  });
  if (response !== null) metrics?.watch(response.entries as TwoLevelCache<unknown>);
  if (account !== null) metrics?.watch(account);
  return {
    response,
    account,
    start: async (timeoutMs) => tier?.start(timeoutMs),
    close: () => tier?.close(),
  };
}
