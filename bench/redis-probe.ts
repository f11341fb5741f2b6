/**
 * The Redis round-trip probe: a short count-bounded run against a Redis-mode
 * target with MONITOR on, apart from the measured runs (MONITOR slows Redis).
 * INFO commandstats cannot answer "how many round trips per request": it also
 * counts the commands a Lua script runs. MONITOR tags those.
 */
import { runAutocannon } from './load/autocannon-load.ts';
import type { RedisProbe } from './report/bench-report.ts';
import { measure } from './scenarios.ts';
import type { RunningTarget } from './targets/target.ts';
import type { Upstream } from './upstreams/upstream.ts';

/** Runs `requests` non-streaming requests with MONITOR on; null for targets without Redis. */
export async function probeRedis(
  target: RunningTarget,
  upstreams: { fast: Upstream; stream: Upstream },
  requests: number,
): Promise<RedisProbe | null> {
  if (target.redis === null) return null;
  const monitor = await target.redis.monitor();
  let served = 0;
  try {
    const m = await measure('chat', target, upstreams, { durationS: 10, amount: requests, connections: 16, streamConcurrency: 1 }, runAutocannon, 0);
    served = m.requests;
  } finally {
    const { sent, inScripts } = await monitor.stop();
    if (served === 0) return null;
    let total = 0;
    for (const name in sent) total += sent[name];
    return { target: target.name, requests: served, sentPerRequest: total / served, sentByCommand: sent, inScriptsPerRequest: inScripts / served };
  }
}
