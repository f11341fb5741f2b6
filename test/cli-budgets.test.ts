/**
 * `tollgate budget set|list|remove` as an operator runs it (spawned
 * processes): locally against the store of a running gateway, which applies
 * the change through the change feed, and remotely through the admin API.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'undici';
import { CLI } from './support/serve-process.ts';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
let env: NodeJS.ProcessEnv;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI asynchronously: the gateway it talks to lives in this process. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}
const remote = (...args: string[]) => run('--url', fx.url, '--admin-token', ADMIN_TOKEN, ...args);
const json = (r: Run) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

async function chat(key: string): Promise<number> {
  const r = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt-large', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
  });
  await r.body.dump();
  return r.statusCode;
}

before(async () => {
  fx = await startFixture();
  await fx.tg.store.prices.set({ model: 'mock-gpt-large', channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 1_000_000, free: false });
  await fx.tg.store.users.credit(fx.userId, 1_000_000_000);
  await fx.tg.sync.pollNow();
  env = { ...process.env, TOLLGATE_DATA_DIR: fx.dataDir, TOLLGATE_LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'TOLLGATE_URL', 'TOLLGATE_ADMIN_TOKEN', 'TOLLGATE_CONFIG']) delete env[k];
});
after(() => fx.close());

test('local: set reaches the running gateway, list shows names, remove lifts it; bad input exits 2', async () => {
  assert.equal(await chat(fx.key), 200);
  const set = json(await run('budget', 'set', '--user', 'alice', '--period', 'day', '--limit', '0', '--json'));
  assert.deepEqual({ ...set, id: 0 }, { id: 0, scope: 'user', subject: 'alice', period: 'day', mode: 'calendar', limit_micros: 0, store: set.store });
  // The gateway polls the change feed every 50 ms.
  let status = 200;
  for (let i = 0; i < 100 && status === 200; i++) {
    status = await chat(fx.key);
    if (status === 200) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 402);

  json(await run('budget', 'set', '--key', String(fx.keyId), '--period', 'hour', '--limit', '5000000', '--rolling', '--json'));
  const table = await run('budget', 'list');
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /user\s+alice\s+day\s+calendar\s+0/);
  assert.match(table.stdout, /key\s+test \(\S+\)\s+hour\s+rolling\s+5000000/);
  assert.equal(json(await run('budget', 'list', '--key', String(fx.keyId), '--json')).length, 1);

  const removed = json(await run('budget', 'remove', '--user', 'alice', '--period', 'day', '--json'));
  assert.equal(removed.removed, true);
  assert.equal(json(await run('budget', 'remove', '--user', 'alice', '--period', 'day', '--json')).removed, false);
  status = 402;
  for (let i = 0; i < 100 && status === 402; i++) {
    status = await chat(fx.key);
    if (status === 402) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(status, 200);

  const badPeriod = await run('budget', 'set', '--user', 'alice', '--period', 'year', '--limit', '1');
  assert.equal(badPeriod.code, 2);
  assert.match(badPeriod.stderr, /--period must be one of hour, day, week, month/);
  assert.equal((await run('budget', 'set', '--user', 'alice', '--period', 'day', '--limit', '1.5')).code, 2);
  assert.equal((await run('budget', 'set', '--user', 'nobody', '--period', 'day', '--limit', '1')).code, 2);
  assert.equal((await run('budget', 'set', '--period', 'day', '--limit', '1')).code, 2, 'no subject');
});

test('remote: the same commands through the admin API, applied before they return', async () => {
  const set = json(await remote('budget', 'set', '--user', 'alice', '--period', 'week', '--limit', '0', '--json'));
  assert.deepEqual([set.scope, set.subject, set.period, set.mode, set.limit_micros], ['user', 'alice', 'week', 'calendar', 0]);
  assert.equal(await chat(fx.key), 402, 'the serving node applied it before answering');
  const listed = json(await remote('budget', 'list', '--user', 'alice', '--json'));
  assert.deepEqual(listed.map((b: { period: string }) => b.period), ['week']);
  assert.equal(json(await remote('budget', 'remove', '--user', 'alice', '--period', 'week', '--json')).removed, true);
  assert.equal(await chat(fx.key), 200);
});
