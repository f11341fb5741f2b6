/**
 * `tollgate proxy …` and `channel update --first-token-timeout-ms` as an
 * operator runs them (spawned processes on one data dir): output never shows
 * proxy credentials, bindings come and go, and a master-key rotation
 * re-seals proxy credentials with the channel keys.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/serve-process.ts';
import { openStore } from '../src/store/store.ts';

const PASSWORD = 'cli-pw-Hq42-secret';
let dataDir: string;
let env: NodeJS.ProcessEnv;
const tollgate = (...args: string[]) => runCli(env, ...args);

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'tollgate-cli-proxy-'));
  env = { ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn', PROXY_PW: PASSWORD };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.TOLLGATE_URL;
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('channel update sets and removes the first-token timeout', () => {
  assert.equal(tollgate('channel', 'add', '--name', 'c1', '--base-url', 'http://127.0.0.1:9/v1', '--models', 'm1', '--first-token-timeout-ms', '1500').code, 0);
  let list = JSON.parse(tollgate('channel', 'list', '--json').stdout);
  assert.equal(list[0].first_token_timeout_ms, 1500);
  const off = tollgate('channel', 'update', '--name', 'c1', '--first-token-timeout-ms', 'off', '--json');
  assert.equal(off.code, 0, off.stderr);
  assert.equal(JSON.parse(off.stdout).first_token_timeout_ms, null);
  assert.equal(tollgate('channel', 'update', '--name', 'c1', '--first-token-timeout-ms', '0').code, 2);
  list = JSON.parse(tollgate('channel', 'list', '--json').stdout);
  assert.equal(list[0].first_token_timeout_ms, null);
});

test('proxy add|list|bind|unbind|remove; credentials never printed; rotation re-seals them', async () => {
  const add = tollgate('proxy', 'add', '--name', 'egress-1', '--proxy-url', 'socks5://127.0.0.1:1080', '--username', 'ops', '--password-env', 'PROXY_PW', '--json');
  assert.equal(add.code, 0, add.stderr);
  assert.deepEqual({ ...JSON.parse(add.stdout), store: undefined }, { store: undefined, id: 1, name: 'egress-1', kind: 'socks5', url: 'socks5://127.0.0.1:1080', pool: 'global', enabled: true, credentials: true });
  assert.match(JSON.parse(add.stdout).store, /^sqlite .*tollgate\.db$/, 'the store it used is named');
  const inUrl = tollgate('proxy', 'add', '--name', 'egress-2', '--proxy-url', `http://ops:${PASSWORD}@127.0.0.1:3128`, '--channel', 'c1');
  assert.equal(inUrl.code, 0, inUrl.stderr);
  assert.ok(!inUrl.stdout.includes(PASSWORD));
  assert.equal(tollgate('proxy', 'add', '--name', 'x', '--proxy-url', 'http://169.254.169.254:80').code, 2, 'a metadata address is refused');
  assert.equal(tollgate('proxy', 'add', '--name', 'x', '--proxy-url', 'ftp://127.0.0.1:21').code, 1);
  assert.equal(tollgate('user', 'create', '--name', 'dora').code, 0);
  assert.equal(tollgate('proxy', 'bind', '--name', 'egress-1', '--user', 'dora').code, 0);
  assert.equal(tollgate('proxy', 'bind', '--name', 'egress-1').code, 2, 'a subject is needed');
  const list = tollgate('proxy', 'list', '--json');
  assert.ok(!list.stdout.includes(PASSWORD));
  const rows = JSON.parse(list.stdout);
  assert.deepEqual(rows.map((r: any) => [r.name, r.pool, r.bound]), [['egress-1', 'global', ['user:1']], ['egress-2', 'channel c1', []]]);

  const rotate = tollgate('secrets', 'rotate', '--new-key');
  assert.equal(rotate.code, 0, rotate.stderr);
  assert.ok(!rotate.stdout.includes(PASSWORD));
  rmSync(join(dataDir, 'secret.key.previous'));
  const store = await openStore({ dataDir });
  try {
    const full = await store.proxies.listFull();
    assert.deepEqual(full.map((p) => [p.username, p.password]), [['ops', PASSWORD], ['ops', PASSWORD]], 'opened with the new key alone');
  } finally {
    await store.close();
  }

  assert.equal(tollgate('proxy', 'unbind', '--user', 'dora').code, 0);
  assert.equal(tollgate('proxy', 'unbind', '--user', 'dora').code, 2);
  assert.equal(tollgate('proxy', 'remove', '--name', 'egress-1').code, 0);
  assert.equal(JSON.parse(tollgate('proxy', 'list', '--json').stdout).length, 1);
});
