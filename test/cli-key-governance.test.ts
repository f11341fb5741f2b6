/**
 * Key rules from the CLI as an operator runs it (spawned processes): bad
 * values are exit 2 naming the flag, lists show the rules, and a change made
 * by the CLI in another process applies to a running `serve` within a second,
 * through the Redis doorbell (the poll interval is a minute here) and through
 * the poll alone; remote mode (--url) does the same through the admin API.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { runCli, startServe } from './support/serve-process.ts';

const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = 'cli-key-governance-token-0123';
const prefix = `tollgate-test-keygov-${process.pid}-${Date.now()}:`;
let dataDir: string;
let env: NodeJS.ProcessEnv;

const tollgate = (...args: string[]) => runCli(env, ...args);
const json = (r: ReturnType<typeof runCli>) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-cli-keygov-'));
  env = {
    ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn', TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN,
    REDIS_URL, TOLLGATE_REDIS_KEY_PREFIX: prefix, TOLLGATE_CHANGE_POLL_MS: '60000',
  };
  for (const k of ['DATABASE_URL', 'TOLLGATE_URL', 'TOLLGATE_CONFIG']) delete env[k];
});
after(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

async function chat(base: string, key: string, model = 'mock-gpt'): Promise<{ status: number; code: string | null }> {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
  });
  const body = (await res.json()) as any;
  return { status: res.status, code: body.error?.code ?? null };
}

/** Calls until the answer has `status`, for at most a second from now; the last answer. */
async function within1s(base: string, key: string, status: number, model = 'mock-gpt') {
  const since = Date.now();
  let answer = await chat(base, key, model);
  while (answer.status !== status && Date.now() - since < 1_000) answer = await chat(base, key, model);
  return answer;
}

test('bad rules are usage errors (exit 2) that name the flag', () => {
  assert.equal(tollgate('user', 'create', '--name', 'alice').code, 0);
  const cases: Array<[string[], RegExp]> = [
    [['key', 'create', '--user', 'alice', '--expires', '3x'], /--expires must be .*got '3x'/],
    [['key', 'create', '--user', 'alice', '--expires', '2020-01-01'], /--expires '2020-01-01' is in the past/],
    [['key', 'create', '--user', 'alice', '--ips', '10.0.0.0/8,10.0.0.0/33'], /--ips: '10\.0\.0\.0\/33' is not a CIDR/],
    [['key', 'create', '--user', 'alice', '--models', ' , '], /--models needs at least one model/],
    [['key', 'update', '--key', '1'], /give at least one of --expires/],
    [['key', 'update', '--key', '1', '--models', 'a', '--all-models'], /--models or --all-models/],
    [['key', 'update', '--key', '1', '--ips', '::1/128', '--any-ip'], /--ips or --any-ip/],
    [['key', 'update', '--key', 'tg-nomatch', '--all-models'], /no live key matches 'tg-nomatch'/],
  ];
  for (const [args, message] of cases) {
    const r = tollgate(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(json(tollgate('key', 'list', '--json')).length, 0, 'nothing was created');
});

test('create with rules, list them; CLI changes reach a running server within 1 s through the Redis doorbell; remote mode too', async () => {
  const created = json(tollgate('key', 'create', '--user', 'alice', '--name', 'ci', '--models', 'mock-gpt', '--ips', '10.0.0.0/8,::1/128', '--expires', '30d', '--json'));
  assert.deepEqual([created.models, created.ips], [['mock-gpt'], ['10.0.0.0/8', '::1/128']]);
  assert.ok(created.expires_at > Date.now() + 29 * 86_400_000);
  const table = tollgate('key', 'list');
  assert.match(table.stdout, /expires\s+models\s+ips/);
  assert.match(table.stdout, new RegExp(`${created.prefix}.*${new Date(created.expires_at).toISOString().slice(0, 10)}.*mock-gpt\\s+10\\.0\\.0\\.0/8,::1/128`));
  const human = tollgate('key', 'create', '--user', 'alice', '--models', 'mock-gpt');
  assert.match(human.stdout, /^tg-\w{32}\n\(key \d+ for alice; shown once — store it now\)\n\(models mock-gpt\)\n$/);

  const serve = await startServe(env);
  try {
    const base = serve.base;
    assert.deepEqual(await chat(base, created.key), { status: 403, code: 'ip_not_allowed' });

    assert.equal(tollgate('key', 'update', '--key', created.prefix, '--ips', '127.0.0.0/8').code, 0);
    assert.equal((await within1s(base, created.key, 200)).status, 200, 'the address change applied within 1 s');
    assert.deepEqual(await chat(base, created.key, 'mock-gpt-large'), { status: 403, code: 'model_not_allowed' });

    assert.equal(tollgate('key', 'update', '--key', String(created.id), '--all-models', '--any-ip').code, 0);
    assert.equal((await within1s(base, created.key, 200, 'mock-gpt-large')).status, 200, 'the model change applied within 1 s');

    const soon = json(tollgate('key', 'update', '--key', created.prefix, '--expires', '1s', '--json'));
    await new Promise((r) => setTimeout(r, Math.max(0, soon.expires_at - Date.now()) + 20));
    assert.deepEqual(await chat(base, created.key), { status: 401, code: 'key_expired' });
    assert.match(tollgate('key', 'list').stdout, /\(expired\)/);
    assert.equal(json(tollgate('key', 'update', '--key', created.prefix, '--no-expires', '--json')).expires_at, null);
    assert.equal((await within1s(base, created.key, 200)).status, 200);

    // Remote mode: the serving node applies the change before the command returns.
    const remote = (...args: string[]) => runCli(env, '--url', base, '--admin-token', ADMIN_TOKEN, ...args);
    const r = json(remote('key', 'create', '--user', 'alice', '--models', 'mock-gpt-large', '--ips', '::1/128,127.0.0.1', '--json'));
    assert.deepEqual([r.models, r.ips, r.expires_at], [['mock-gpt-large'], ['::1/128', '127.0.0.1'], null]);
    assert.equal((await chat(base, r.key, 'mock-gpt-large')).status, 200);
    assert.equal(json(remote('key', 'update', '--key', r.prefix, '--models', 'mock-gpt', '--json')).models.join(), 'mock-gpt');
    assert.deepEqual(await chat(base, r.key, 'mock-gpt-large'), { status: 403, code: 'model_not_allowed' }, 'applied before the command returned');
    const listed = json(remote('key', 'list', '--json')).find((k: any) => k.id === r.id);
    assert.deepEqual([listed.models, listed.ips, listed.expires_at], [['mock-gpt'], ['::1/128', '127.0.0.1'], null]);
    assert.equal(remote('key', 'update', '--key', r.prefix, '--ips', 'nonsense').code, 2);
    assert.equal(remote('key', 'revoke', r.prefix).code, 0);
    assert.equal(remote('key', 'update', '--key', r.prefix, '--all-models').code, 2, 'a revoked key matches no live key');
  } finally {
    serve.child.kill('SIGKILL');
    await serve.exited;
  }
});

test('without Redis the poll carries a CLI change to a running server', async () => {
  const pollEnv: NodeJS.ProcessEnv = { ...env, TOLLGATE_CHANGE_POLL_MS: '100' };
  delete pollEnv.REDIS_URL;
  const k = json(runCli(pollEnv, 'key', 'create', '--user', 'alice', '--models', 'mock-gpt', '--json'));
  const serve = await startServe(pollEnv);
  try {
    assert.deepEqual(await chat(serve.base, k.key, 'mock-gpt-large'), { status: 403, code: 'model_not_allowed' });
    assert.equal(runCli(pollEnv, 'key', 'update', '--key', k.prefix, '--all-models').code, 0);
    assert.equal((await within1s(serve.base, k.key, 200, 'mock-gpt-large')).status, 200);
  } finally {
    serve.child.kill('SIGKILL');
    await serve.exited;
  }
});
