// ioredis settings under which a limiter call never waits longer than its
// timeout, alive or dead server alike.

import type { RedisOptions } from 'ioredis';
import { openRedis, slotsReachable, type RedisClient } from '../sync/redis-client.ts';

/** Connection settings of the limiter's Redis clients. */
export interface LimiterConnectionOptions {
  /** Upper bound on one limiter call, in ms (default 250). */
  commandTimeoutMs?: number;
  /** TCP connect timeout in ms (default 1,000). */
  connectTimeoutMs?: number;
  /** Longest pause between reconnect attempts in ms (default 1,000). */
  reconnectMaxMs?: number;
}

/**
 * ioredis options for a client the limiter may use. Pass them when you hand
 * RedisLimiter your own client, or the timeout bound does not hold.
 *
 * - `commandTimeout`: a hung server (stopped, overloaded) rejects the call
 *   after the timeout; ioredis then drops the late reply.
 * - `enableOfflineQueue: false`: while disconnected a call fails at once
 *   instead of queueing until some reconnect.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: a
 *   call in flight when the connection drops fails at once and is never
 *   re-sent; re-sending a script that may already have run would charge the
 *   limits twice.
 * - A short reconnect back-off, so a restarted Redis is used again within
 *   about a second.
 */
export function limiterRedisOptions(options: LimiterConnectionOptions = {}): RedisOptions {
  const reconnectMaxMs = options.reconnectMaxMs ?? 1000;
  return {
    commandTimeout: options.commandTimeoutMs ?? 250,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(times * 100, reconnectMaxMs),
  };
}

/** Opens `poolSize` clients to `url` (one server or a cluster) with {@link limiterRedisOptions}. */
export function openLimiterPool(url: string, poolSize: number, options: LimiterConnectionOptions = {}): RedisClient[] {
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError('redis pool size must be a positive integer');
  const clients: RedisClient[] = [];
  for (let i = 0; i < poolSize; i++) {
    clients.push(openRedis(url, { ...limiterRedisOptions(options), connectionName: `tollgate-limiter-${i}` }));
  }
  return clients;
}

/** Resolves true once every client is ready, false if `timeoutMs` passes first. */
export function waitReady(clients: readonly RedisClient[], timeoutMs: number): Promise<boolean> {
  const waits = clients.map(
    (c) =>
      new Promise<boolean>((resolve) => {
        if (c.status === 'ready') return resolve(true);
        const timer = setTimeout(() => {
          c.off('ready', onReady);
          resolve(false);
        }, timeoutMs);
        const onReady = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        c.once('ready', onReady);
      }),
  );
  return Promise.all(waits).then(async (all) => all.every(Boolean) && (await allSlotsReachable(clients, timeoutMs)));
}

/** After the clients report ready: a cluster client's master connections too (slotsReachable). */
async function allSlotsReachable(clients: readonly RedisClient[], timeoutMs: number): Promise<boolean> {
  return (await Promise.all(clients.map((c) => slotsReachable(c, timeoutMs)))).every(Boolean);
}

/**
 * Resolves when the first connection attempt of every client has ended:
 * true if all are ready, false on an error or after `timeoutMs`.
 */
export function firstConnection(clients: readonly RedisClient[], timeoutMs: number): Promise<boolean> {
  const attempts = clients.map(
    (c) =>
      new Promise<boolean>((resolve) => {
        if (c.status === 'ready') return resolve(true);
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          c.off('ready', onReady);
          c.off('error', onFail);
          c.off('close', onFail);
          resolve(ok);
        };
        const onReady = (): void => done(true);
        const onFail = (): void => done(false);
        const timer = setTimeout(onFail, timeoutMs);
        timer.unref();
        c.once('ready', onReady);
        c.once('error', onFail);
        c.once('close', onFail);
      }),
  );
  return Promise.all(attempts).then(async (all) => all.every(Boolean) && (await allSlotsReachable(clients, timeoutMs)));
}
