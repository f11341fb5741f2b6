// The Redis limiter on one Redis server against a 3-master Redis Cluster, side
// by side in one run, about a minute in all:
//   node dist/bench/redis-cluster-bench.js [--seconds 5] [--in-flight 256]
// For each backend and load — many users (10,000, in turn) and one hot user —
// it reports admissions per second (admit + settle, five policies each with
// RPM, TPM and concurrency: global, user, key, model, user+model), script calls
// per admission (the round trips), and each master's share of the script calls
// (INFO commandstats before and after). Both servers are private to the run,
// so the counters are the limiter's only.
//
// This machine has 2 cores for the load process and every redis-server: the
// figures show how the keys spread and that one admission stays one call;
// the cluster's throughput gain needs cores that a 2-core machine does not
// have (docs/redis-cluster.md says what to expect on more).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisLimiter } from '../src/limiter/redis-limiter.ts';
import type { AdmissionRequest, LimitPolicy } from '../src/limiter/limiter.ts';
import { startRedisCluster } from '../test/support/redis-cluster.ts';
import { freePort } from './free-port.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, 'in-flight': { type: 'string', default: '256' } } });
const SECONDS = Number(values.seconds);
const IN_FLIGHT = Number(values['in-flight']);
const USERS = 10_000;
const BIG = { rpm: 1e9, tpm: 1e9, concurrency: 1e6 };

function request(user: number): AdmissionRequest {
  const policies: LimitPolicy[] = [
    { scope: 'global', subject: '', ...BIG },
    { scope: 'user', subject: String(user), ...BIG },
    { scope: 'key', subject: String(user * 10), ...BIG },
    { scope: 'model', subject: 'gpt-4o-mini', ...BIG },
    { scope: 'user_model', subject: `${user}:gpt-4o-mini`, ...BIG },
  ];
  return { policies, tokens: 800, userId: user };
}
const manyUsers = Array.from({ length: USERS }, (_, u) => request(u + 1));
const hotUser = [request(42)];

interface Counted {
  /** Script calls per master port. */
  calls(): Promise<Map<number, number>>;
}

async function scriptCallsOf(port: number): Promise<number> {
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await admin.connect();
  let calls = 0;
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_(eval|evalsha):calls=(\d+)/gm)) calls += Number(m[2]);
  admin.disconnect();
  return calls;
}

async function run(name: string, url: string, shards: number, masters: Counted, load: readonly AdmissionRequest[]): Promise<void> {
  const limiter = new RedisLimiter({ redis: url, keyPrefix: `tollgate-bench-${randomBytes(3).toString('hex')}:`, shards, commandTimeoutMs: 2_000 });
  if (!(await limiter.ready(5_000))) throw new Error(`no Redis at ${url}`);
  const before = await masters.calls();
  let n = 0;
  const end = performance.now() + SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const a = await limiter.admit(load[n++ % load.length]);
      if (a.allowed) limiter.settle(a.lease, 300);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const seconds = (performance.now() - started) / 1000;
  await limiter.flush();
  const after = await masters.calls();
  const s = limiter.stats();
  await limiter.close();
  const perMaster = [...after].map(([port, calls]) => calls - (before.get(port) ?? 0));
  const total = perMaster.reduce((x, y) => x + y, 0);
  const shares = perMaster.map((c) => `${((100 * c) / total).toFixed(1)} %`).join(' / ');
  console.log(
    `| ${name} | ${Math.round(n / seconds).toLocaleString('en-US')} | ${((s.calls - s.flushCalls) / n).toFixed(3)} (+${(s.flushCalls / n).toFixed(3)} flushes) | ${shares} | ${s.failOpen} |`,
  );
}

const port = await freePort();
const single = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
try {
  await sleep(200);
  const singleCounted: Counted = { calls: async () => new Map([[port, await scriptCallsOf(port)]]) };
  const clusterCounted: Counted = {
    calls: async () => new Map(await Promise.all(cluster.masters().sort().map(async (p) => [p, await scriptCallsOf(p)] as [number, number]))),
  };
  console.log(`${SECONDS} s per row, ${IN_FLIGHT} admissions in flight, five policies each with RPM + TPM + concurrency; one load process and every redis-server share this machine's cores.\n`);
  console.log('| backend and load | admissions/s | admission calls per request | share of script calls per master | fail-open |');
  console.log('| :-- | --: | --: | :-- | --: |');
  for (const [load, requests] of [['10,000 users', manyUsers], ['one hot user', hotUser]] as const) {
    await run(`one Redis, ${load}`, `redis://127.0.0.1:${port}`, 1, singleCounted, requests);
    await run(`cluster (3 masters, 16 shards), ${load}`, cluster.url, 16, clusterCounted, requests);
  }
} finally {
  single.kill('SIGKILL');
  await cluster.stop();
}
