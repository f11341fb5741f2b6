/**
 * Tollgate with the full policy chain on: key auth, limits of every type
 * (global, user, key, model; set high enough never to refuse), credit
 * reservation and settlement, metering records through the batched writer,
 * metrics and request logging (to a file). Three modes: memory (SQLite, the
 * embedded default), Redis (REDIS_URL) and PostgreSQL (DATABASE_URL).
 *
 * Variants switch one part off, so that the report can tell what each part
 * costs by comparing CPU per request with the full chain in the same run:
 * limits, metering, or metrics and request log.
 *
 * Set up through the CLI against the target's own data dir, then
 * `node dist/src/cli.js serve` on the target core, with
 * bench/store-probe-preload.ts loaded to count store transactions, and the
 * loop and allocation probes (event-loop delay, GC pauses, V8 heap bytes
 * allocated per request).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { preparePostgres } from '../backends/postgres-backend.ts';
import { startRedisBackend, type RedisBackend } from '../backends/redis-backend.ts';
import { allocProbeFileEnv, allocProbeNodeArgs, readAllocProbe } from '../alloc-probe.ts';
import { freePort } from '../free-port.ts';
import { loopProbeFileEnv, loopProbeNodeArgs } from '../loop-probe.ts';
import { waitForHttp } from '../managed-process.ts';
import { tollgateCli } from '../paths.ts';
import { readStoreProbe, storeProbeFileEnv, storeProbeNodeArgs } from '../store-probe.ts';
import { scrapeCounters } from './prometheus-scrape.ts';
import { benchFilterRules, chatBody, fastModel, filteredStreamModel, streamModel, translatedStreamModel, type RunningTarget, type TargetContext, type TargetDefinition } from './target.ts';

/** Which stores back the Tollgate target. */
export type TollgateMode = 'memory' | 'redis' | 'postgres';

/**
 * The full chain, or the full chain with one part switched off:
 * - nolimits: no limit policies at all (the limiter is never called);
 * - nometering: both models free (`price set --free`) and no TPM limits (RPM
 *   and concurrency kept), so no token estimate, no credit reservation and no
 *   cost math; usage records are still written;
 * - noobs: TOLLGATE_METRICS=false and TOLLGATE_REQUEST_LOG=false.
 */
export type TollgateVariant = 'full' | 'nolimits' | 'nometering' | 'noobs';

const targetNames: Record<TollgateMode, string> = { memory: 'tollgate', redis: 'tollgate-redis', postgres: 'tollgate-pg' };
const variantNotes: Record<Exclude<TollgateVariant, 'full'>, string> = {
  nolimits: 'limits off (no limit policies at all; prices, credits, metering, metrics and request log as in the full chain)',
  nometering: 'metering off (free model; usage records still written): `price set --free`, no TPM limits (RPM and concurrency kept), so no token estimate, credit reservation or cost math',
  noobs: 'metrics and request log off (TOLLGATE_METRICS=false, TOLLGATE_REQUEST_LOG=false)',
};
export const adminToken = 'bench-admin-token-0123456789';
// High enough never to refuse, so every limit is checked on every request.
const limitArgs = ['--rpm', '100000000', '--tpm', '10000000000', '--concurrency', '10000'];
// Metering off also drops the TPM limits: with any TPM limit the gateway estimates tokens for every request.
const limitArgsNoTpm = ['--rpm', '100000000', '--concurrency', '10000'];

/** Runs one CLI command with the target's environment; resolves to its stdout. */
export function cli(cliPath: string, env: NodeJS.ProcessEnv, cwd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliPath, ...args], { env, cwd, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`tollgate ${args.join(' ')} failed (${error.message.split('\n')[0]}):\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

/** The process environment without any Tollgate, Redis or database settings of the caller. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('TOLLGATE_') && name !== 'REDIS_URL' && name !== 'DATABASE_URL') env[name] = value;
  }
  return env;
}

/** The key and its prefix from `key create --json` (the prefix names the key in `limit set --key`). */
export function parseKey(stdout: string): { key: string; prefix: string } {
  const created = JSON.parse(stdout) as { key?: string; prefix?: string };
  if (typeof created.key !== 'string') throw new Error(`tollgate key create --json printed no "key": ${stdout}`);
  if (typeof created.prefix !== 'string') throw new Error(`tollgate key create --json printed no "prefix": ${stdout}`);
  return { key: created.key, prefix: created.prefix };
}

async function configure(cliPath: string, env: NodeJS.ProcessEnv, dataDir: string, context: TargetContext, variant: TollgateVariant): Promise<string> {
  const run = (args: string[]): Promise<string> => cli(cliPath, env, dataDir, args);
  await run(['user', 'create', '--name', 'bench']);
  const { key, prefix } = parseKey(await run(['key', 'create', '--user', 'bench', '--json']));
  await run(['channel', 'add', '--name', 'fast', '--type', 'openai', '--base-url', `${context.fast.url}/v1`, '--models', fastModel, '--key', 'sk-up']);
  await run(['channel', 'add', '--name', 'stream', '--type', 'openai', '--base-url', `${context.streamUpstream.url}/v1`, '--models', `${streamModel},${filteredStreamModel}`, '--key', 'sk-up']);
  // The same mock as an Anthropic channel: chat streams to it are translated both ways.
  await run(['channel', 'add', '--name', 'stream-anthropic', '--type', 'anthropic', '--base-url', context.streamUpstream.url, '--models', translatedStreamModel, '--key', 'sk-up']);
  await run(['user', 'credit', '--user', 'bench', '--add', '1000000000000']);
  const price = variant === 'nometering' ? ['--free'] : ['--input', '1000', '--output', '2000'];
  for (const model of [fastModel, streamModel, translatedStreamModel, filteredStreamModel]) await run(['price', 'set', '--model', model, ...price]);
  if (variant === 'nolimits') return key;
  const limits = variant === 'nometering' ? limitArgsNoTpm : limitArgs;
  await run(['limit', 'set', '--global', ...limits]);
  await run(['limit', 'set', '--user', 'bench', ...limits]);
  await run(['limit', 'set', '--key', prefix, ...limits]);
  for (const model of [fastModel, streamModel, translatedStreamModel, filteredStreamModel]) await run(['limit', 'set', '--model', model, ...limits]);
  return key;
}

/** The 30 response filter rules of the 'filtered' scenario, through the admin API (one process, not 30 CLI runs). */
async function addBenchFilters(url: string): Promise<void> {
  for (const rule of benchFilterRules) {
    const res = await fetch(`${url}/admin/filters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'model', subject: filteredStreamModel, kind: rule.kind, pattern: rule.pattern, replacement: rule.replace, max_length: rule.maxLength ?? 64 }),
    });
    if (res.status !== 201) throw new Error(`POST /admin/filters answered ${res.status}: ${await res.text()}`);
  }
}

/** Redis commands so far, from INFO commandstats (the runner divides the difference by requests). */
async function redisCounters(redis: RedisBackend, counters: Record<string, number>): Promise<void> {
  const calls = await redis.commandCalls();
  let total = 0;
  for (const name in calls) total += calls[name];
  counters.redisCommands = total;
  for (const name in calls) counters[`redis:${name}`] = calls[name];
}

/**
 * The counters read around each run: store transactions and records from the
 * probe, the writer and request counters of GET /metrics (when on), Redis
 * commands (Redis mode).
 */
function tollgateCounters(pid: number, probeFile: string, allocFile: string, url: string, redis: RedisBackend | null): () => Promise<Record<string, number>> {
  return async () => {
    const probe = await readStoreProbe(pid, probeFile);
    const counters: Record<string, number> = { storeTransactions: probe.transactions, storeRecords: probe.records, heapAllocBytes: await readAllocProbe(pid, allocFile) };
    const scraped = await scrapeCounters(url);
    if (scraped !== null) {
      counters['metrics:requests'] = scraped.requests;
      counters['metrics:writerFlushes'] = scraped.writerFlushes;
      counters['metrics:writerRecords'] = scraped.writerRecords;
    }
    if (redis !== null) await redisCounters(redis, counters);
    return counters;
  };
}

/**
 * A Tollgate target in the given mode (and variant); skipped with a note when
 * the CLI is not built or the store does not answer. `workers` null: one
 * process pinned to the target core, as every other target. `workers` N
 * (tollgate-w1, tollgate-w2): `serve --workers N`, NOT pinned — the event
 * loops need the cores, which they then share with the load generator.
 */
export function tollgateTarget(mode: TollgateMode, variant: TollgateVariant = 'full', reference: { name: string; cli: string } | null = null, workers: number | null = null): TargetDefinition {
  const name = workers !== null ? `tollgate-w${workers}` : reference?.name ?? (variant === 'full' ? targetNames[mode] : `${targetNames[mode]}-${variant}`);
  const cliPath = reference?.cli ?? tollgateCli;
  return {
    name,
    async start(context): Promise<RunningTarget | string> {
      if (!existsSync(cliPath)) return `Tollgate is not built (${cliPath} missing: run npx tsc -p .)`;
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
        TOLLGATE_REQUEST_LOG: variant === 'noobs' ? 'false' : 'true',
        TOLLGATE_METRICS: variant === 'noobs' ? 'false' : 'true',
        // The built-in in-process mock channel would answer without an upstream hop.
        TOLLGATE_MOCK_CHANNEL: 'false',
        // On for the 'cached' scenario; the other scenarios do not opt in (they pay the not-used check).
        TOLLGATE_CACHE_ENABLED: 'true',
        TOLLGATE_CACHE_TTL_MS: '3600000',
        // One process unless measuring workers (the default is one event loop per core).
        TOLLGATE_WORKERS: String(workers ?? 1),
      });
      let description = reference !== null ? `Tollgate of another checkout (${cliPath}), full chain, SQLite store, in-memory limits`
        : variant === 'full' ? 'Tollgate, full chain, SQLite store, in-memory limits' : `Tollgate, SQLite store, ${variantNotes[variant]}`;
      if (workers !== null) description = `Tollgate, full chain, SQLite store, serve --workers ${workers} (${workers === 1 ? 'one process, no threads' : 'limits and credits held by the main thread'}), not pinned: shares all cores with the load generator`;
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
        // The private redis-server shares the load generator's core: a call can stall for
        // hundreds of ms while autocannon holds the core, which is not Redis failing. With the
        // default 200 ms timeout each stall trips the breaker, and priced requests (credits
        // fail closed) answer 503 for a second; the bench measures the working path instead.
        env.TOLLGATE_REDIS_COMMAND_TIMEOUT_MS = '2000';
        description = `Tollgate, full chain, SQLite store, Redis limits, live balances and credit holds (one script call per request) and change signals (${redis.note})`;
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
        const key = await configure(cliPath, env, dataDir, context, variant);
        const probeFile = join(dataDir, 'store-probe.json');
        env[storeProbeFileEnv] = probeFile;
        const loopProbeFile = join(dataDir, 'loop-probe.json');
        env[loopProbeFileEnv] = loopProbeFile;
        const allocFile = join(dataDir, 'alloc-probe.json');
        env[allocProbeFileEnv] = allocFile;
        // --cpu-prof: V8 writes the profile when the process exits (serve exits on SIGTERM).
        const profileArgs = context.cpuProfDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(context.cpuProfDir, name)}`];
        const managed = context.group.spawn(name, process.execPath, [...profileArgs, ...storeProbeNodeArgs, ...loopProbeNodeArgs, ...allocProbeNodeArgs, cliPath, 'serve'], {
          cores: workers === null ? context.cpus?.targetCores ?? null : null,
          env,
          cwd: dataDir,
          logFile: join(dataDir, 'tollgate.log'),
        });
        const url = `http://127.0.0.1:${port}`;
        await waitForHttp(`${url}/readyz`, 30_000, managed);
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
        // The translated and filtered streams are measured on the memory-mode full chain only (another
        // checkout may predate them; the store and limiter backends do not change them).
        const streamVariants = reference === null && mode === 'memory' && variant === 'full';
        if (streamVariants) await addBenchFilters(url);
        return {
          name,
          description,
          pid: managed.pid,
          chat: { url, path: '/v1/chat/completions', headers, body: chatBody(fastModel, false) },
          stream: { url, path: '/v1/chat/completions', headers, body: chatBody(streamModel, true) },
          // Another checkout may predate translation: only this one is measured translating.
          translatedStream: streamVariants ? { url, path: '/v1/chat/completions', headers, body: chatBody(translatedStreamModel, true) } : undefined,
          filteredStream: streamVariants ? { url, path: '/v1/chat/completions', headers, body: chatBody(filteredStreamModel, true) } : undefined,
          cached: streamVariants ? { shape: { url, path: '/v1/chat/completions', headers: { ...headers, 'x-tollgate-cache': 'use' }, body: chatBody(fastModel, false) }, fromCache: true } : undefined,
          account: { url, headers: { authorization: `Bearer ${key}` }, llmBody: chatBody(fastModel, false) },
          onlyScenarios: variant === 'full' ? undefined : ['chat'],
          redis: redisBackend,
          counters: tollgateCounters(managed.pid, probeFile, allocFile, url, redisBackend),
          loopProbeFile,
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
