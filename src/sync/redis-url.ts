/**
 * The forms `REDIS_URL` takes:
 *
 *   redis://[user:pass@]host:port[/db]        one server (rediss:// for TLS)
 *   redis+cluster://[user:pass@]h1:p1,h2:p2   a Redis Cluster, given by any of its
 *                                             nodes (rediss+cluster:// for TLS)
 *
 * Parsing lives apart from the client so that config validation does not load ioredis.
 */

/** Where `REDIS_URL` points. */
export type RedisEndpoint =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

const CLUSTER_SCHEMES: Record<string, boolean> = { 'redis+cluster:': false, 'rediss+cluster:': true };

/** Parses `REDIS_URL`; throws a message naming what is wrong. */
export function parseRedisUrl(raw: string): RedisEndpoint {
  const scheme = /^[a-z+]+:/i.exec(raw)?.[0].toLowerCase();
  if (scheme === undefined || !(scheme in CLUSTER_SCHEMES)) {
    if (scheme !== 'redis:' && scheme !== 'rediss:') throw new Error(`redisUrl must start with redis://, rediss://, redis+cluster:// or rediss+cluster://, got "${raw}"`);
    return { kind: 'single', url: raw };
  }
  // WHATWG URL parses one host only: take the credentials off, then split the node list.
  const rest = raw.slice(scheme.length).replace(/^\/\//, '');
  const at = rest.lastIndexOf('@');
  const credentials = at === -1 ? '' : rest.slice(0, at);
  const hostList = (at === -1 ? rest : rest.slice(at + 1)).replace(/\/.*$/, '');
  const nodes = hostList.split(',').filter((h) => h.length > 0).map((h) => {
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(h);
    if (m === null) throw new Error(`redisUrl cluster node "${h}" must be host:port`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
  if (nodes.length === 0) throw new Error('redisUrl names a cluster without any node');
  const colon = credentials.indexOf(':');
  const username = colon === -1 ? '' : decodeURIComponent(credentials.slice(0, colon));
  const password = colon === -1 ? decodeURIComponent(credentials) : decodeURIComponent(credentials.slice(colon + 1));
  return {
    kind: 'cluster',
    nodes,
    ...(username !== '' ? { username } : {}),
    ...(password !== '' ? { password } : {}),
    tls: CLUSTER_SCHEMES[scheme],
  };
}
