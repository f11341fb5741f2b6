/**
 * Redis pub/sub as a doorbell for the change feed: a process that changed the
 * store publishes one message, and every subscribed server polls the feed at
 * once instead of waiting for its next poll. The message carries no data — the
 * store stays the one source of truth, so a lost message only costs latency.
 */
import { openRedis, type RedisClient } from './redis-client.ts';

export interface ChangeSignal {
  /** Ring the bell (after a committed change). Never throws: polling still catches up. */
  publish(): Promise<void>;
  /** Call `onSignal` for every bell, from any process. */
  subscribe(onSignal: () => void): Promise<void>;
  close(): Promise<void>;
}

/** How long start-up waits for the subscription before going on without it (polling covers the gap). */
const SUBSCRIBE_WAIT_MS = 1_000;

const redisOptions = { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 1_000, enableOfflineQueue: true };

export function openChangeSignal(redisUrl: string, keyPrefix: string): ChangeSignal {
  const channel = `${keyPrefix}changes`;
  let publisher: RedisClient | null = null;
  let subscriber: RedisClient | null = null;
  return {
    async publish() {
      try {
        publisher ??= openRedis(redisUrl, redisOptions);
        publisher.on('error', () => undefined);
        await publisher.publish(channel, '1');
      } catch {
        // Redis away: servers still see the change at their next poll.
      }
    },
    async subscribe(onSignal) {
      subscriber = openRedis(redisUrl, { ...redisOptions, maxRetriesPerRequest: null });
      subscriber.on('error', () => undefined); // reconnects by itself; polling covers the gap
      subscriber.on('message', onSignal);
      // Not reachable now: the subscription completes (and ioredis resubscribes) when the
      // connection comes back; start-up waits for it a moment at most, never for Redis.
      const subscribed = subscriber.subscribe(channel).then(() => undefined, () => undefined);
      await Promise.race([subscribed, new Promise<void>((resolve) => setTimeout(resolve, SUBSCRIBE_WAIT_MS).unref())]);
    },
    async close() {
      publisher?.disconnect();
      subscriber?.disconnect();
    },
  };
}
