// Micro-benchmark of the limiter alone, a few seconds in all:
//   node dist/bench/limiter-bench.js
// 1. Memory backend: admissions + settlements per second on one core, five
//    policies per request (global, user, key, model, user_model), each with
//    RPM + TPM + concurrency; sync admitSync() against promise-based admit().
// 2. Memory backend: heap bytes per tracked entry.
// 3. Redis backend: script calls (round trips) per request with every limit
//    type active, by the client's count and by INFO commandstats. Uses
//    REDIS_URL if set, else a private redis-server on a free port.
// 4. Spend budgets: the same requests with two budgets each (a calendar day
//    of the user, a rolling hour of the key), alternated with the plain ones
//    in one run: memory admissions per second, Redis script time per call.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { MemoryLimiter } from '../src/limiter/memory-limiter.ts';
import { RedisLimiter } from '../src/limiter/redis-limiter.ts';
import type { AdmissionRequest, LimitPolicy } from '../src/limiter/limiter.ts';
import { budgetPolicy } from '../src/limiter/budget.ts';

const USERS = 10_000;
const BIG = { rpm: 1e9, tpm: 1e9, concurrency: 1e6 };

function fivePolicies(user: number): LimitPolicy[] {
  return [
    { scope: 'global', subject: '', ...BIG },
    { scope: 'user', subject: String(user), ...BIG },
    { scope: 'key', subject: String(user * 10), ...BIG },
    { scope: 'model', subject: 'gpt-4o-mini', ...BIG },
    { scope: 'user_model', subject: `${user}:gpt-4o-mini`, ...BIG },
  ];
}

// Requests are prepared up front, as the gateway's policy book does.
const requests: AdmissionRequest[] = Array.from({ length: USERS }, (_, u) => ({ policies: fivePolicies(u), tokens: 800 }));
const budgeted: AdmissionRequest[] = requests.map((r, u) => ({
  ...r,
  budgets: [budgetPolicy('user', String(u), 'day', 'calendar', 1e15), budgetPolicy('key', String(u * 10), 'hour', 'rolling', 1e15)],
  micros: 12_345,
}));

function benchSync(ms: number, reqs = requests): number {
  const limiter = new MemoryLimiter();
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      const a = limiter.admitSync(reqs[n++ % USERS]);
      if (a.allowed) limiter.settle(a.lease, 300, 10_000);
    }
  }
  return n / (ms / 1000);
}

async function benchAsync(ms: number): Promise<number> {
  const limiter = new MemoryLimiter();
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 1000; i++) {
      const a = await limiter.admit(requests[n++ % USERS]);
      if (a.allowed) limiter.settle(a.lease, 300);
    }
  }
  return n / (ms / 1000);
}

function bytesPerEntry(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const n = 100_000;
  const subjects = Array.from({ length: n }, (_, i) => `user-${String(i).padStart(7, '0')}`);
  const limiter = new MemoryLimiter({ maxEntries: n, now: () => 1 });
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const p: LimitPolicy = { scope: 'user', subject: '', ...BIG };
  for (let i = 0; i < n; i++) {
    p.subject = subjects[i];
    const a = limiter.admitSync({ policies: [p], tokens: 10 });
    if (a.allowed) limiter.settle(a.lease, 5);
  }
  gc();
  gc();
  const grown = process.memoryUsage().heapUsed - before;
  // Keep the limiter reachable until measured, or the GC frees it first.
  if (limiter.stats().entries !== n) throw new Error('entries were evicted');
  return grown / n;
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

async function scriptCalls(admin: Redis): Promise<number> {
  let calls = 0;
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_(eval|evalsha):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

/** Script calls and the microseconds Redis spent in them so far. */
async function scriptTime(admin: Redis): Promise<{ calls: number; usec: number }> {
  let calls = 0;
  let usec = 0;
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_(eval|evalsha):calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[2]);
    usec += Number(m[3]);
  }
  return { calls, usec };
}

async function benchRedis(total: number, concurrency: number): Promise<void> {
  let url = process.env.REDIS_URL;
  let child: ChildProcess | null = null;
  if (url === undefined) {
    const port = await freePort();
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child.on('error', () => {});
    url = `redis://127.0.0.1:${port}`;
    await sleep(200);
  }
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 5 });
  const prefix = `tollgate-bench-${randomBytes(4).toString('hex')}:`;
  const limiter = new RedisLimiter({ redis: url, keyPrefix: prefix, commandTimeoutMs: 2000 });
  try {
    await admin.connect();
    if (!(await limiter.ready(3000))) throw new Error(`no Redis at ${url}`);
    const before = await scriptCalls(admin);
    let next = 0;
    const started = performance.now();
    const worker = async (): Promise<void> => {
      while (next < total) {
        const a = await limiter.admit(requests[next++ % USERS]);
        if (a.allowed) limiter.settle(a.lease, 300);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await limiter.flush();
    const seconds = (performance.now() - started) / 1000;
    const server = (await scriptCalls(admin)) - before;
    const s = limiter.stats();
    console.log(`redis: ${total} requests (admit + settle, 5 policies x RPM+TPM+concurrency), ${concurrency} in flight, ${Math.round(total / seconds)} req/s`);
    console.log(`redis: round trips per request: ${(s.calls / total).toFixed(3)} by client count (${s.flushCalls} settle-only flushes), ` +
      `${(server / total).toFixed(3)} by INFO commandstats${child === null ? ' (server-wide: other clients count too)' : ''}; fail-open ${s.failOpen}`);
    // Budgets: Redis time per script call, plain and budgeted requests alternated.
    const perCall: Record<'plain' | 'budgets', number[]> = { plain: [], budgets: [] };
    for (let run = 0; run < 3; run++) {
      for (const [name, reqs] of [['plain', requests], ['budgets', budgeted]] as const) {
        const t0 = await scriptTime(admin);
        let i = 0;
        const work = async (): Promise<void> => {
          while (i < total) {
            const a = await limiter.admit(reqs[i++ % USERS]);
            if (a.allowed) limiter.settle(a.lease, 300, 10_000);
          }
        };
        await Promise.all(Array.from({ length: concurrency }, work));
        await limiter.flush();
        const t1 = await scriptTime(admin);
        perCall[name].push((t1.usec - t0.usec) / (t1.calls - t0.calls));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
    console.log(`redis: script time per call, 3 alternated runs of ${total}: plain ${median(perCall.plain).toFixed(1)} us (${range(perCall.plain)}), ` +
      `+2 budgets ${median(perCall.budgets).toFixed(1)} us (${range(perCall.budgets)})${child === null ? ' (shared server: other clients too)' : ''}`);
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  } finally {
    await limiter.close();
    admin.disconnect();
    if (child !== null) child.kill('SIGKILL');
  }
}

const syncRate = benchSync(2000);
console.log(`memory: ${Math.round(syncRate).toLocaleString('en-US')} admit+settle/s on one core with admitSync (5 policies x RPM+TPM+concurrency)`);
const plainRates: number[] = [];
const budgetRates: number[] = [];
for (let run = 0; run < 5; run++) {
  plainRates.push(benchSync(1000));
  budgetRates.push(benchSync(1000, budgeted));
}
const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[2];
console.log(`memory: budgets, 5 alternated runs of 1 s: plain ${Math.round(mid(plainRates)).toLocaleString('en-US')}/s ` +
  `(${Math.round(Math.min(...plainRates)).toLocaleString('en-US')}-${Math.round(Math.max(...plainRates)).toLocaleString('en-US')}), ` +
  `+2 budgets ${Math.round(mid(budgetRates)).toLocaleString('en-US')}/s (${Math.round(Math.min(...budgetRates)).toLocaleString('en-US')}-${Math.round(Math.max(...budgetRates)).toLocaleString('en-US')}); ` +
  `ratio ${(mid(budgetRates) / mid(plainRates)).toFixed(2)}`);
const asyncRate = await benchAsync(1000);
console.log(`memory: ${Math.round(asyncRate).toLocaleString('en-US')} admit+settle/s with await admit() (promise + microtask per request)`);
console.log(`memory: ${bytesPerEntry().toFixed(0)} heap bytes per tracked entry (plus its subject string)`);
try {
  await benchRedis(5000, 50);
} catch (err) {
  console.log(`redis: skipped (${(err as Error).message})`);
}
