/**
 * The shared level (L2) of a two-level cache: entries in Redis with a TTL, and
 * an invalidation channel on which every node tells the others to drop an
 * entry from their own memory. A cache must never make a request wait on a
 * sick Redis: commands use the limiter's settings (a short command timeout,
 * no offline queue), and any error reads as a miss or a skipped write.
 */
import { Cluster } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { limiterRedisOptions, waitReady } from '../limiter/redis-connection.ts';
import { openRedis, type RedisClient } from '../sync/redis-client.ts';

export interface RedisTierOptions {
  url: string;
  /** Namespace of the keys and of the channel, e.g. `tollgate:`. */
  keyPrefix: string;
  commandTimeoutMs: number;
  /** A command failed (counted; the cache carries on without L2 for that call). */
  onError: (err: Error) => void;
}

/** Every node listens here; messages are `<node>\n<cache>\n<key>`, the key `*` for every entry. */
const CHANNEL = 'cache:invalidate';
export const EVERY_KEY = '*';
/** Keys deleted per DEL while clearing a cache. */
const CLEAR_BATCH = 500;

export class RedisTier {
  readonly #client: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #onError: (err: Error) => void;
  /** This node's id, so it ignores its own invalidations (it already acted on them). */
  readonly #node = randomUUID();
  readonly #listeners = new Map<string, (key: string) => void>();

  constructor(opts: RedisTierOptions) {
    this.#prefix = `${opts.keyPrefix}cache:`;
    this.#channel = `${opts.keyPrefix}${CHANNEL}`;
    this.#onError = opts.onError;
    this.#client = openRedis(opts.url, { ...limiterRedisOptions({ commandTimeoutMs: opts.commandTimeoutMs }), connectionName: 'tollgate-cache' });
    this.#client.on('error', () => undefined); // reconnects by itself; each failed command is reported where it fails
    // The subscriber queues while offline: ioredis re-subscribes when the connection comes back.
    this.#subscriber = openRedis(opts.url, { lazyConnect: true, maxRetriesPerRequest: null, connectTimeout: 1_000, connectionName: 'tollgate-cache-sub' });
    this.#subscriber.on('error', () => undefined);
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onMessage(message));
  }

  /**
   * Waits (up to `timeoutMs`) for the command connection, which queues nothing
   * while offline, and subscribes to invalidations (retried in the background on failure).
   */
  async start(timeoutMs: number): Promise<void> {
    // The subscription waits for a connection as long as it takes; the start waits for it at most timeoutMs.
    const subscribed = this.#subscriber.subscribe(this.#channel).then(() => undefined, (err: Error) => this.#onError(err));
    const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.all([waitReady([this.#client], timeoutMs), Promise.race([subscribed, timer])]);
  }

  /** `onDrop(key)` runs when another node invalidates `key` of the cache named `cache`. */
  listen(cache: string, onDrop: (key: string) => void): void {
    this.#listeners.set(cache, onDrop);
  }

  async get(cache: string, key: string): Promise<Buffer | null> {
    try {
      return await this.#client.getBuffer(this.#prefix + cache + ':' + key);
    } catch (err) {
      this.#onError(err as Error);
      return null;
    }
  }

  async set(cache: string, key: string, value: Buffer, ttlMs: number): Promise<void> {
    try {
      await this.#client.set(this.#prefix + cache + ':' + key, value, 'PX', ttlMs);
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** Deletes the shared entry and tells every other node to drop its copy. */
  async invalidate(cache: string, key: string): Promise<void> {
    try {
      await this.#client.del(this.#prefix + cache + ':' + key);
      await this.#client.publish(this.#channel, `${this.#node}\n${cache}\n${key}`);
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** Tells every other node to drop its copy of `key` (the shared entry was just replaced). */
  async announce(cache: string, key: string): Promise<void> {
    try {
      await this.#client.publish(this.#channel, `${this.#node}\n${cache}\n${key}`);
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  /** Deletes every shared entry of `cache` (SCAN, never KEYS) and tells every other node to drop all of its copies; the number deleted. */
  async clear(cache: string): Promise<number> {
    let deleted = 0;
    try {
      // On a cluster each master holds its own part of the keys, and one DEL may only name keys of one slot.
      const client = this.#client;
      const nodes = client instanceof Cluster ? client.nodes('master') : [client];
      for (const node of nodes) {
        const stream = node.scanStream({ match: `${this.#prefix}${cache}:*`, count: CLEAR_BATCH });
        for await (const keys of stream as AsyncIterable<string[]>) {
          for (const n of await Promise.all(keys.map((k) => client.del(k)))) deleted += n;
        }
      }
      await this.#client.publish(this.#channel, `${this.#node}\n${cache}\n${EVERY_KEY}`);
    } catch (err) {
      this.#onError(err as Error);
    }
    return deleted;
  }

  close(): void {
    this.#client.disconnect();
    this.#subscriber.disconnect();
  }

  #onMessage(message: string): void {
    const first = message.indexOf('\n');
    const second = message.indexOf('\n', first + 1);
    if (first < 0 || second < 0 || message.slice(0, first) === this.#node) return;
    this.#listeners.get(message.slice(first + 1, second))?.(message.slice(second + 1));
  }
}
