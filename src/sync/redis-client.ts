/**
 * One way to open a Redis connection from `REDIS_URL` (see redis-url.ts), for
 * a single server or a Redis Cluster. A cluster client (ioredis Cluster)
 * discovers the other nodes, follows MOVED and ASK redirections, loads a
 * script on each node where EVALSHA reports NOSCRIPT, and re-reads the slot
 * map after a failover. Every caller (limiter,
 * change signal, cache) speaks to the `RedisClient` union, whose shared
 * surface is what they use.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.ts';

export type RedisClient = Redis | Cluster;

/**
 * Opens a client. `options` are per-connection settings (timeouts, retries,
 * offline queue); for a cluster they apply to every node connection and the
 * cluster-level equivalents are set from them.
 */
export function openRedis(url: string, options: RedisOptions): RedisClient {
  const endpoint = parseRedisUrl(url);
  if (endpoint.kind === 'single') return new Redis(url, options);
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: {
      ...perNode,
      ...(endpoint.username !== undefined ? { username: endpoint.username } : {}),
      ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
      ...(endpoint.tls ? { tls: {} } : {}),
    },
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(typeof retryStrategy === 'function' ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    // A failover takes the cluster about node-timeout to settle: a CLUSTERDOWN
    // reply (the command did not run) is retried briefly. A command whose
    // connection closed may have run, so it is re-sent only when the caller
    // allows re-sending (a limiter script must never run twice).
    retryDelayOnClusterDown: 100,
    retryDelayOnFailover: perNode.autoResendUnfulfilledCommands === false ? 0 : 100,
  };
  const cluster = new Cluster(endpoint.nodes, clusterOptions);
  // Node connections are made lazily, on a node's first command; with neither
  // an offline queue nor re-sending (the limiter's settings), the commands
  // that meet a connection still being made would fail. Connect each node as
  // soon as the cluster learns of it (at start and after a failover).
  cluster.on('+node', (node: Redis) => {
    if (node.status === 'wait') node.connect().catch(() => undefined);
  });
  return cluster;
}

/**
 * Resolves once a ready client can serve every slot: a single server when
 * ready; a cluster once its slot map is known AND each master's connection is
 * up (the cluster reports ready before its node connections are made).
 * false after `timeoutMs`.
 */
export async function slotsReachable(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (!(client instanceof Cluster)) return client.status === 'ready';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const masters = client.nodes('master');
    if (client.status === 'ready' && masters.length > 0 && masters.every((n) => n.status === 'ready')) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
