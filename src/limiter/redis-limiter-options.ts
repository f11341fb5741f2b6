// The options and counters of RedisLimiter (redis-limiter.ts), kept apart so
// the limiter's file holds only its behaviour.

import type { RedisClient } from '../sync/redis-client.ts';
import type { ShardMap } from './redis-shards.ts';
import type { LimiterStats } from './limiter.ts';
import type { MemoryLimiter } from './memory-limiter.ts';
import type { LimiterConnectionOptions } from './redis-connection.ts';
import type { RedisCredits } from '../metering/redis-credits.ts';

/** Options of {@link RedisLimiter}. */
export interface RedisLimiterOptions extends LimiterConnectionOptions {
  /** A URL (the limiter opens and owns `poolSize` clients) or your clients, made with `limiterRedisOptions()`. */
  redis: string | RedisClient | readonly RedisClient[];
  /** Connections opened for a URL, used round-robin (default 1: ioredis pipelines). */
  poolSize?: number;
  /** Key prefix (default 'tollgate:'). */
  keyPrefix?: string;
  /** Hash tag shared by all limiter keys (default 'rl'); with shards, the base of each shard's tag. */
  hashTag?: string;
  /** Shards the keys are split into by user (default 1: one slot; see redis-shards.ts). */
  shards?: number;
  /** The shard map itself, when the credit ledger must share it (overrides keyPrefix, hashTag and shards). */
  shardMap?: ShardMap;
  /** RPM/TPM window in ms (default 60,000); must match the fallback's. */
  windowMs?: number;
  /** IANA time zone of calendar budget periods (default UTC); must match the fallback's. */
  timeZone?: string;
  /** Lifetime of a concurrency lease whose node never settles it (default 600,000; longer than any request). */
  leaseTtlMs?: number;
  /** What to do when Redis fails (default 'open'). */
  failPolicy?: 'open' | 'closed';
  /** The credit ledger judged in the same call (credit asks are ignored without it). */
  credits?: RedisCredits | null;
  /** Limiter used when failing open (default: a new MemoryLimiter with the same window). */
  fallback?: MemoryLimiter;
  /** After a Redis error, skip Redis this long (default 1,000 ms; 0 = retry at once). */
  breakerMs?: number;
  /** Idle delay before queued settlements are flushed on their own (default 5 ms). */
  flushDelayMs?: number;
  /** Settlements carried by one admission call (default 32). */
  maxPiggyback?: number;
  /** Queued settlements kept while Redis is down; the oldest are dropped beyond (default 10,000). */
  maxPending?: number;
  /**
   * Called on every failed call and connection error: count and log it here.
   * The breaker bounds the rate: the calls in flight when Redis fails, then
   * one probe per `breakerMs`, plus one per reconnect attempt.
   */
  onError?: (err: Error) => void;
}

/** Counters for metrics. */
export interface RedisLimiterStats extends LimiterStats {
  /** Script calls sent (admissions plus settle-only flushes). */
  calls: number;
  /** Settle-only flush calls among them. */
  flushCalls: number;
  /** Redis call failures (errors and timeouts). */
  errors: number;
  /** Admissions decided by the fallback because Redis was unavailable. */
  failOpen: number;
  /** Admissions refused as 'unavailable' (fail closed). */
  failClosed: number;
  /** Settlements dropped because the queue overflowed while Redis was down. */
  droppedSettlements: number;
}

