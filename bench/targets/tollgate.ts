/**
 * Tollgate with the full policy chain on: key auth, limits of every type
 * (global, user, key, model; set high enough never to refuse), credit
 * reservation and settlement, metering records through the batched writer,
 * metrics and request logging (to a file). Three modes: memory (SQLite, the
 * embedded default), Redis (REDIS_URL) and PostgreSQL (DATABASE_URL).
 *
 * Set up through the CLI against the target's own data dir, then
 * `node dist/src/cli.js serve` on the target core.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { preparePostgres } from '../backends/postgres-backend.ts';
import { startRedisBackend, type RedisBackend } from '../backends/redis-backend.ts';
import { freePort } from '../free-port.ts';
import { waitForHttp } from '../managed-process.ts';
import { tollgateCli } from '../paths.ts';
import { chatBody, fastModel, noCounters, streamModel, type RunningTarget, type TargetContext, type TargetDefinition } from './target.ts';

/** Which stores back the Tollgate target. */
export type TollgateMode = 'memory' | 'redis' | 'postgres';

const targetNames: Record<TollgateMode, string> = { memory: 'tollgate', redis: 'tollgate-redis', postgres: 'tollgate-pg' };
const adminToken = 'bench-admin-token-0123456789';
// High enough never to refuse, so every limit is checked on every request.
const limitArgs = ['--rpm', '100000000', '--tpm', '10000000000', '--concurrency', '10000'];

/** Runs one CLI command with the target's environment; resolves to its stdout. */
function cli(env: NodeJS.ProcessEnv, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [tollgateCli, ...args], { env, cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`tollgate ${args.join(' ')} failed (${error.message.split('\n')[0]}):\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

/** The process environment without any Tollgate, Redis or database settings of the caller. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TOLLGATE_') && name !== 'REDIS_URL' && name !== 'DATABASE_URL') env[name] = value;
  }
  return env;
}

/** The key and its prefix from `key create --json` (the prefix names the key in `limit set --key`). */
function parseKey(stdout: string): { key: string; prefix: string } {
  const created = JSON.parse(stdout) as { key?: string; prefix?: string };
  if (typeof created.key !== 'string') throw new Error(`tollgate key create --json printed no "key": ${stdout}`);
  if (typeof created.prefix !== 'string') throw new Error(`tollgate key create --json printed no "prefix": ${stdout}`);
  return { key: created.key, prefix: created.prefix };
}

async function configure(env: NodeJS.ProcessEnv, dataDir: string, context: TargetContext): Promise<string> {
  const run = (args: string[]): Promise<string> => cli(env, dataDir, args);
  await run(['user', 'create', '--name', 'bench']);
  const { key, prefix } = parseKey(await run(['key', 'create', '--user', 'bench', '--json']));
  await run(['channel', 'add', '--name', 'fast', '--type', 'openai', '--base-url', `${context.fast.url}/v1`, '--models', fastModel, '--key', 'sk-up']);
  await run(['channel', 'add', '--name', 'stream', '--type', 'openai', '--base-url', `${context.streamUpstream.url}/v1`, '--models', streamModel, '--key', 'sk-up']);
  await run(['user', 'credit', '--user', 'bench', '--add', '1000000000000']);
  for (const model of [fastModel, streamModel]) await run(['price', 'set', '--model', model, '--input', '1000', '--output', '2000']);
  await run(['limit', 'set', '--global', ...limitArgs]);
  await run(['limit', 'set', '--user', 'bench', ...limitArgs]);
  await run(['limit', 'set', '--key', prefix, ...limitArgs]);
  for (const model of [fastModel, streamModel]) await run(['limit', 'set', '--model', model, ...limitArgs]);
  return key;
}

/** Redis commands per run, from INFO commandstats (the runner divides by requests). */
function redisCounters(redis: RedisBackend): () => Promise<Record<string, number>> {
  return async () => {
    const calls = await redis.commandCalls();
    let total = 0;
    for (const name in calls) total += calls[name];
    const counters: Record<string, number> = { redisCommands: total };
    for (const name in calls) counters[`redis:${name}`] = calls[name];
    return counters;
  };
}

/** A Tollgate target in the given mode; skipped with a note when the CLI is not built or the store does not answer. */
export function tollgateTarget(mode: TollgateMode): TargetDefinition {
  const name = targetNames[mode];
  return {
    name,
    async start(context): Promise<RunningTarget | string> {
      if (!existsSync(tollgateCli)) return `Tollgate is not built (${tollgateCli} missing: run npx tsc -p .)`;
      const dataDir = join(context.workDir, name);
      mkdirSync(dataDir, { recursive: true });
      const port = await freePort();
      const env = cleanEnv();
      Object.assign(env, {
        TOLLGATE_HOST: '127.0.0.1',
        TOLLGATE_PORT: String(port),
        TOLLGATE_DATA_DIR: dataDir,
        TOLLGATE_ADMIN_TOKEN: adminToken,
        TOLLGATE_LOG_LEVEL: 'info',
        TOLLGATE_REQUEST_LOG: 'true',
        TOLLGATE_METRICS: 'true',
        // The built-in in-process mock channel would answer without an upstream hop.
        TOLLGATE_MOCK_CHANNEL: 'false',
      });
      let description = 'Tollgate, full chain, SQLite store, in-memory limits';
      let counters = noCounters;
      let redisBackend: RedisBackend | null = null;
      let closeBackend = async (): Promise<void> => {};
      // Closed by stop(), or by the process group when the bench is interrupted.
      const closeOnce = (close: () => Promise<void>): (() => Promise<void>) => {
        let closing: Promise<void> | null = null;
        const once = (): Promise<void> => (closing ??= close());
        context.group.addCleanup(once);
        return once;
      };
      if (mode === 'redis') {
        const redis = await startRedisBackend(context.group, context.cpus?.loadCores ?? null);
        if (typeof redis === 'string') return redis;
        env.REDIS_URL = redis.url;
        description = `Tollgate, full chain, SQLite store, Redis limits and balances (${redis.note})`;
        counters = redisCounters(redis);
        redisBackend = redis;
        closeBackend = closeOnce(() => redis.close());
      } else if (mode === 'postgres') {
        const postgres = await preparePostgres();
        if (typeof postgres === 'string') return postgres;
        env.DATABASE_URL = postgres.url;
        env.TOLLGATE_POSTGRES_SCHEMA = postgres.schema;
        description = `Tollgate, full chain, PostgreSQL store (schema ${postgres.schema}), in-memory limits`;
        closeBackend = closeOnce(() => postgres.close());
      }
      try {
        const key = await configure(env, dataDir, context);
        const managed = context.group.spawn(name, process.execPath, [tollgateCli, 'serve'], {
          cores: context.cpus?.targetCores ?? null,
          env,
          cwd: dataDir,
          logFile: join(dataDir, 'tollgate.log'),
        });
        const url = `http://127.0.0.1:${port}`;
        await waitForHttp(`${url}/readyz`, 30_000, managed);
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
        return {
          name,
          description,
          pid: managed.pid,
          chat: { url, path: '/v1/chat/completions', headers, body: chatBody(fastModel, false) },
          stream: { url, path: '/v1/chat/completions', headers, body: chatBody(streamModel, true) },
          account: { url, headers: { authorization: `Bearer ${key}` }, llmBody: chatBody(fastModel, false) },
          redis: redisBackend,
          counters,
          async stop() {
            await managed.stop();
            await closeBackend();
          },
        };
      } catch (error) {
        await closeBackend();
        throw error;
      }
    },
  };
}
