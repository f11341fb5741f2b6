/**
 * Redis for the Tollgate Redis-mode target. A private redis-server (pinned to
 * the load cores, no persistence) when the binary is installed, so that INFO
 * commandstats counts Tollgate's commands only; otherwise the server named by
 * BENCH_REDIS_URL / REDIS_URL, or 127.0.0.1:6379, when it answers.
 */
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from '../free-port.ts';
import type { ProcessGroup } from '../managed-process.ts';

/** A Redis server the bench may use, and a reader of its command counters. */
export interface RedisBackend {
  url: string;
  /** 'private redis-server on :port' or 'shared server at …'. */
  note: string;
  /** Calls per command since the server started (INFO commandstats), without INFO itself. */
  commandCalls(): Promise<Record<string, number>>;
  /** Starts recording the commands clients send (MONITOR), for a short probe run only. */
  monitor(): Promise<CommandMonitor>;
  close(): Promise<void>;
}

/**
 * What clients sent while a MONITOR was on. INFO commandstats also counts the
 * commands a Lua script runs; MONITOR tags those "lua", so only here can the
 * commands a client sent (its round trips, pipelining aside) be told apart.
 */
export interface CommandMonitor {
  /** Stops recording; resolves to commands sent by clients (by name) and run inside scripts. */
  stop(): Promise<{ sent: Record<string, number>; inScripts: number }>;
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function parseCommandStats(text: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] !== 'info') calls[match[1]] = Number(match[2]);
  }
  return calls;
}

async function connect(url: string): Promise<Redis | null> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableReadyCheck: false, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return null;
  }
}

function backendOf(url: string, note: string, client: Redis, stop: () => Promise<void>): RedisBackend {
  return {
    url,
    note,
    async commandCalls() {
      return parseCommandStats(await client.info('commandstats'));
    },
    async monitor() {
      const monitor = await client.duplicate().monitor();
      const sent: Record<string, number> = {};
      let inScripts = 0;
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        const name = String(args[0]).toLowerCase();
        if (source === 'lua') inScripts += 1;
        else if (name !== 'info') sent[name] = (sent[name] ?? 0) + 1;
      });
      return {
        async stop() {
          // MONITOR lines trail the commands by a moment; let them arrive.
          await new Promise((resolve) => setTimeout(resolve, 200));
          monitor.disconnect();
          return { sent, inScripts };
        },
      };
    },
    async close() {
      client.disconnect();
      await stop();
    },
  };
}

/** Starts or finds a Redis server; resolves to a note string when there is none. */
export async function startRedisBackend(group: ProcessGroup, cores: string | null): Promise<RedisBackend | string> {
  if (hasRedisServer()) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
    const managed = group.spawn('redis-server', 'redis-server', args, { cores });
    const url = `redis://127.0.0.1:${port}`;
    for (let attempt = 0; attempt < 50; attempt++) {
      const client = await connect(url);
      if (client !== null) return backendOf(url, `private redis-server on 127.0.0.1:${port}`, client, () => managed.stop());
      if (managed.exited) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await managed.stop();
  }
  const url = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const client = await connect(url);
  if (client === null) return `no Redis: redis-server not installed and ${url} does not answer`;
  return backendOf(url, `shared server at ${url} (commandstats include other clients)`, client, async () => {});
}
