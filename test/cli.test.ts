/**
 * The CLI as a user runs it (spawned processes): set-up commands against the
 * same store as a running `serve`, output and exit codes, and a clean SIGTERM.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, runCli, startServe } from './support/serve-process.ts';

let dataDir: string;
let env: NodeJS.ProcessEnv;

const tollgate = (...args: string[]) => runCli(env, ...args);

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-cli-'));
  env = { ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn', TOLLGATE_CHANGE_POLL_MS: '100' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('--help and usage errors', () => {
  const help = tollgate('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /serve/);
  assert.match(help.stdout, /channel/);
  assert.equal(tollgate('key', 'create', '--help').code, 0);
  const missing = tollgate('user', 'create');
  assert.equal(missing.code, 2, 'a missing required option is a usage error');
  assert.equal(tollgate('key', 'create', '--user', 'nobody').code, 2);
  assert.equal(tollgate('no-such-command').code, 2);
});

test('a bad config value names the field', () => {
  const r = spawnSync(process.execPath, [CLI, 'user', 'list'], { env: { ...env, TOLLGATE_PORT: 'eighty' }, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /port \(env TOLLGATE_PORT\) = "eighty"/);
});

test('channel add refuses a metadata / non-http base URL with exit 2 naming --base-url; private networks per config', () => {
  for (const url of ['http://169.254.169.254/latest', 'http://0xa9fea9fe/', 'file:///etc/passwd']) {
    const r = tollgate('channel', 'add', '--name', 'bad', '--base-url', url, '--models', 'm');
    assert.equal(r.code, 2, url);
    assert.match(r.stderr, /--base-url .* is refused/);
  }
  const closed = runCli({ ...env, TOLLGATE_UPSTREAM_ALLOW_PRIVATE_NETWORKS: 'false' }, 'channel', 'add', '--name', 'local', '--base-url', 'http://127.0.0.1:11434/v1', '--models', 'm');
  assert.equal(closed.code, 2);
  assert.match(closed.stderr, /allowPrivateNetworks/);
  assert.doesNotMatch(tollgate('channel', 'list').stdout, /bad|local/);
  const open = tollgate('channel', 'add', '--name', 'local', '--base-url', 'http://127.0.0.1:11434/v1', '--models', 'm');
  assert.equal(open.code, 0, open.stderr);
});

test('serve + CLI: create a user and key, call the API, revoke while serving, SIGTERM exits 0', async () => {
  const created = tollgate('user', 'create', '--name', 'alice', '--json');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(JSON.parse(created.stdout).name, 'alice');
  const key = JSON.parse(tollgate('key', 'create', '--user', 'alice', '--json').stdout);
  assert.match(key.key, /^tg-[0-9A-Za-z]{32}$/);
  const list = tollgate('key', 'list');
  assert.equal(list.code, 0);
  assert.ok(list.stdout.includes(key.prefix) && !list.stdout.includes(key.key), 'lists show the prefix, never the key');

  const serve = await startServe(env);
  try {
    const base = serve.base;
    const chat = () => fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hello' }] }),
    });
    const ok = await chat();
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as any).object, 'chat.completion');

    assert.equal(tollgate('key', 'revoke', key.prefix).code, 0);
    const revokedAt = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 1000) status = (await chat()).status;
    assert.equal(status, 401, 'a key revoked by the CLI stops working within 1 s');

    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
  } finally {
    serve.child.kill('SIGKILL');
  }
});
