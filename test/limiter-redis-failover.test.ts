// RedisLimiter against a redis-server child process of its own (never the
// shared one): round trips counted by INFO commandstats, NOSCRIPT reload,
// and the fail policy when the server is killed, hung, and brought back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisLease } from '../src/limiter/redis-lease.ts';
import { RedisLimiter, type RedisLimiterOptions } from '../src/limiter/redis-limiter.ts';
import { MemoryLease } from '../src/limiter/memory-limiter.ts';
import type { Refused } from '../src/limiter/limiter.ts';
import { policy, admitted } from './support/limiter-helpers.ts';

// These tests start and kill their own server; without the binary they cannot run.
const NO_SERVER = spawnSync('redis-server', ['--version']).error !== undefined ? 'redis-server is not installed' : false;

let port = 0;
let server: ChildProcess | null = null;
let admin: Redis;
const open: RedisLimiter[] = [];

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return p;
}

async function startServer(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 250; i++) {
    try {
      if ((await admin.ping()) === 'PONG') return;
    } catch {
      // not up yet
    }
    await sleep(20);
  }
  throw new Error('redis-server did not start');
}

async function stopServer(): Promise<void> {
  const s = server;
  server = null;
  if (s === null || s.exitCode !== null) return;
  s.kill('SIGKILL');
  await once(s, 'exit');
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function limiter(options: Partial<RedisLimiterOptions> = {}): RedisLimiter {
  const l = new RedisLimiter({ redis: `redis://127.0.0.1:${port}`, commandTimeoutMs: 2000, breakerMs: 50, reconnectMaxMs: 100, ...options });
  open.push(l);
  return l;
}

async function scriptCalls(): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(eval|evalsha):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

before(async () => {
  if (NO_SERVER) return;
  port = await freePort();
  admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 20 });
  admin.on('error', () => {}); // refused connections while the server is down are expected
  await startServer();
});

after(async () => {
  for (const l of open) await l.close();
  await stopServer();
  admin?.disconnect();
});

test('one script call per request with every limit type active (INFO commandstats)', { skip: NO_SERVER }, async (t) => {
  const l = limiter();
  assert.equal(await l.ready(), true);
  const limits = { rpm: 1_000_000, tpm: 1_000_000_000, concurrency: 1000 };
  const policies = [
    policy('global', '', limits),
    policy('user', '7', limits),
    policy('key', '70', limits),
    policy('model', 'gpt-x', limits),
    policy('user_model', '7:gpt-x', limits),
  ];
  await admin.config('RESETSTAT');
  const waves = 40;
  const perWave = 50;
  for (let w = 0; w < waves; w++) {
    const batch = await Promise.all(Array.from({ length: perWave }, () => l.admit({ policies, tokens: 500 })));
    for (const a of batch) l.settle(admitted(a).lease, 120);
  }
  await l.flush();
  const requests = waves * perWave;
  const calls = await scriptCalls();
  assert.equal(calls, l.stats().calls);
  t.diagnostic(`${calls} EVAL/EVALSHA calls for ${requests} admissions + ${requests} settlements (${l.stats().flushCalls} flushes)`);
  assert.equal(l.stats().pendingSettlements, 0);
  // Admissions and settlements together: one call per request plus a few flushes.
  assert.ok(calls <= requests + 10, `${calls} script calls for ${requests} admissions + settlements`);
  // Every settlement reached Redis: all concurrency slots are free again.
  const zsets = await admin.keys('tollgate:{rl}:c:*');
  for (const k of zsets) assert.equal(await admin.zcard(k), 0, k);
});

test('after SCRIPT FLUSH the script is reloaded (NOSCRIPT) and the admission succeeds', { skip: NO_SERVER }, async () => {
  const l = limiter();
  assert.equal(await l.ready(), true);
  const policies = [policy('user', 'noscript', { rpm: 10 })];
  admitted(await l.admit({ policies, tokens: 0 }));
  await admin.script('FLUSH');
  const a = admitted(await l.admit({ policies, tokens: 0 }));
  assert.equal(a.state.remainingRequests, 8);
  assert.equal(l.stats().errors, 0);
});

test('fail open: Redis killed mid-run → the fallback admits; Redis back → Redis used again', { skip: NO_SERVER }, async () => {
  const l = limiter({ failPolicy: 'open' });
  assert.equal(await l.ready(), true);
  const policies = [policy('user', 'open', { rpm: 1000, concurrency: 500 })];
  assert.ok(admitted(await l.admit({ policies, tokens: 0 })).lease instanceof RedisLease);

  // Requests in flight when the server dies resolve (fallback), none hangs.
  const inflight = Array.from({ length: 200 }, () => l.admit({ policies, tokens: 0 }));
  await stopServer();
  const settled = await Promise.all(inflight);
  assert.equal(settled.length, 200);
  await until(() => !l.isAvailable(), 'the limiter to notice');

  const down = admitted(await l.admit({ policies, tokens: 0 }));
  assert.ok(down.lease instanceof MemoryLease, 'decided by the in-process fallback');
  l.settle(down.lease, 0);
  assert.ok(l.stats().failOpen >= 1);

  await startServer();
  assert.equal(await l.ready(5000), true);
  await until(() => l.isAvailable(), 'Redis to be used again');
  const back = admitted(await l.admit({ policies, tokens: 0 }));
  assert.ok(back.lease instanceof RedisLease, 'decided by Redis again');
  assert.equal(await admin.exists('tollgate:{rl}:s:u:open'), 1);
});

test('fail closed: Redis killed → refused as unavailable; Redis back → admitted', { skip: NO_SERVER }, async () => {
  const l = limiter({ failPolicy: 'closed' });
  assert.equal(await l.ready(), true);
  const policies = [policy('key', 'closed', { rpm: 100 })];
  admitted(await l.admit({ policies, tokens: 0 }));
  await stopServer();
  await until(() => !l.isAvailable(), 'the limiter to notice');
  const r = (await l.admit({ policies, tokens: 0 })) as Refused;
  assert.equal(r.allowed, false);
  assert.equal(r.kind, 'unavailable');
  assert.ok(l.stats().failClosed >= 1);

  await startServer();
  assert.equal(await l.ready(5000), true);
  await until(() => l.isAvailable(), 'Redis to be used again');
  assert.ok(admitted(await l.admit({ policies, tokens: 0 })).lease instanceof RedisLease);
});

test('a hung Redis costs at most the command timeout, then the policy applies', { skip: NO_SERVER }, async () => {
  const errors: Error[] = [];
  const l = limiter({ failPolicy: 'open', commandTimeoutMs: 150, breakerMs: 100, onError: (e) => errors.push(e) });
  assert.equal(await l.ready(), true);
  const policies = [policy('user', 'hung', { rpm: 100 })];
  admitted(await l.admit({ policies, tokens: 0 }));
  server!.kill('SIGSTOP');
  try {
    // Resolves (via the timeout) instead of waiting for the stopped server.
    const a = admitted(await l.admit({ policies, tokens: 0 }));
    assert.ok(a.lease instanceof MemoryLease);
    assert.equal(l.stats().errors, 1);
    assert.match(errors[0].message, /timed out/i);
  } finally {
    server!.kill('SIGCONT');
  }
  await until(() => l.isAvailable(), 'the breaker to close');
  assert.ok(admitted(await l.admit({ policies, tokens: 0 })).lease instanceof RedisLease);
});
