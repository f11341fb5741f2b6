/**
 * A newcomer's first hour with the CLI, run as they run it (spawned
 * processes): an old Node, commands from a subdirectory of the deployment,
 * no command at all, `serve --help` and the start-up line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeVersionProblem } from '../src/cli/node-version.ts';
import { CLI, freePort, startServe } from './support/serve-process.ts';

let root: string;
let env: NodeJS.ProcessEnv;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'tollgate-first-hour-'));
  env = { ...process.env, TOLLGATE_LOG_LEVEL: 'warn' };
  for (const name of ['TOLLGATE_DATA_DIR', 'TOLLGATE_CONFIG', 'DATABASE_URL', 'REDIS_URL', 'TOLLGATE_URL']) delete env[name];
});
after(() => rmSync(root, { recursive: true, force: true }));

function tollgateIn(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the Node version check: a plain lower bound, compared numerically', () => {
  assert.match(nodeVersionProblem('20.20.2', '>=22.19')!, /needs Node\.js >=22\.19 .*this is Node\.js 20\.20\.2/);
  assert.match(nodeVersionProblem('22.9.0', '>=22.19')!, /22\.9\.0/, '9 < 19 as numbers, not as text');
  assert.equal(nodeVersionProblem('22.19.0', '>=22.19'), null);
  assert.equal(nodeVersionProblem('24.1.0', '>=22.19'), null);
  assert.equal(nodeVersionProblem('20.0.0', undefined), null, 'no engines field: nothing refused');
  assert.equal(nodeVersionProblem('20.0.0', '^22 || ^24'), null, 'a range it does not understand refuses nothing');
});

const systemNode = '/usr/bin/node';
const systemVersion = existsSync(systemNode) ? spawnSync(systemNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim() : '';
const engines: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).engines.node;

test('an old Node gets one line naming the version needed, exit 1', { skip: nodeVersionProblem(systemVersion, engines) === null && `${systemNode} is not older than ${engines}` }, () => {
  const r = spawnSync(systemNode, [CLI, 'serve'], { cwd: root, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`needs Node\\.js ${engines}.*${systemVersion.replace(/\./g, '\\.')}`));
  assert.doesNotMatch(r.stderr, /bind|undici/);
  assert.equal(existsSync(join(root, 'data')), false, 'nothing ran before the check');
});

test('no command is a usage error: exit 2 with the usage', () => {
  const r = tollgateIn(root);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Usage: tollgate/);
  assert.equal(tollgateIn(root, 'user').code, 2, 'a command group without a subcommand too');
  assert.equal(tollgateIn(root, 'help').code, 0, 'asked-for help is not an error');
});

test('serve --help lists its options and points to the TOLLGATE_* settings', () => {
  const r = tollgateIn(root, 'serve', '--help');
  assert.equal(r.code, 0);
  for (const text of ['--port <port>', '--host <address>', '--data-dir <dir>', 'TOLLGATE_PORT', 'TOLLGATE_ADMIN_TOKEN', 'DATABASE_URL', 'README.md']) assert.ok(r.stdout.includes(text), text);
});

test('commands in a subdirectory use the deployment found above (tollgate.yaml), and name it', () => {
  const deployment = join(root, 'yaml-deployment');
  mkdirSync(join(deployment, 'src', 'deep'), { recursive: true });
  writeFileSync(join(deployment, 'tollgate.yaml'), 'dataDir: ./state\n');
  const created = tollgateIn(join(deployment, 'src'), 'user', 'create', '--name', 'alice', '--json');
  assert.equal(created.code, 0, created.stderr);
  const db = join(deployment, 'state', 'tollgate.db');
  assert.equal(JSON.parse(created.stdout).store, `sqlite ${db}`, '--json objects name the store');
  assert.ok(created.stderr.includes(`store: sqlite ${db}`), created.stderr);
  const listed = tollgateIn(join(deployment, 'src', 'deep'), 'user', 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /alice/);
  assert.ok(listed.stderr.includes(`store: sqlite ${db}`));
  assert.equal(existsSync(join(deployment, 'src', 'data')), false, 'no second store in the subdirectory');
  assert.equal(existsSync(join(deployment, 'src', 'state')), false);
});

test('without tollgate.yaml, an existing data/tollgate.db marks the deployment', () => {
  const deployment = join(root, 'db-deployment');
  mkdirSync(join(deployment, 'a', 'b'), { recursive: true });
  assert.equal(tollgateIn(deployment, 'user', 'create', '--name', 'bob').code, 0);
  const listed = tollgateIn(join(deployment, 'a', 'b'), 'user', 'list', '--json');
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).map((u: { name: string }) => u.name), ['bob'], 'lists keep their array shape');
  assert.ok(listed.stderr.includes(`store: sqlite ${join(deployment, 'data', 'tollgate.db')}`), listed.stderr);
  assert.equal(existsSync(join(deployment, 'a', 'b', 'data')), false);
});

test('serve prints one human line at start: URL, store, admin off, dashboard', async () => {
  const dataDir = join(root, 'serve-data');
  const serve = await startServe({ ...env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'info' });
  try {
    let line: string | undefined;
    for (let i = 0; i < 100 && !(line !== undefined && serve.output().includes('tollgate listening')); i++) {
      line = serve.output().split('\n').find((l) => l.startsWith('Tollgate serving'));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(line !== undefined, serve.output());
    assert.ok(line.includes(`${serve.base}/v1`), line);
    assert.ok(line.includes(`store sqlite ${join(dataDir, 'tollgate.db')}`), line);
    assert.match(line, /admin API off \(set TOLLGATE_ADMIN_TOKEN\)/);
    assert.ok(line.includes(`dashboard ${serve.base}/dashboard/`), line);
    assert.match(serve.output(), /"msg":"tollgate listening"/, 'the JSON log line is still there');
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
});

test('serve --port/--data-dir apply like their env variables; with the admin token the start line says admin on', async () => {
  const port = await freePort();
  const dataDir = join(root, 'serve-options');
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--data-dir', dataDir], {
    cwd: root, env: { ...env, TOLLGATE_ADMIN_TOKEN: 'first-hour-admin-token' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    for (let i = 0; i < 300 && !stderr.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
    const base = `http://127.0.0.1:${port}`;
    // No --workers: one event loop per core (a machine with one core serves in a single process).
    const workers = availableParallelism() > 1 ? ` · ${availableParallelism()} workers` : '';
    assert.equal(stderr, `Tollgate serving ${base}/v1${workers} · store sqlite ${join(dataDir, 'tollgate.db')} · admin API on (${base}/admin) · dashboard ${base}/dashboard/\n`);
    assert.ok(existsSync(join(dataDir, 'tollgate.db')));
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

test('limit set changes only the limits given; no limit flag is exit 2; lists name the subject', () => {
  const deployment = join(root, 'limits');
  mkdirSync(deployment);
  const tg = (...args: string[]) => tollgateIn(deployment, ...args);
  assert.equal(tg('user', 'create', '--name', 'alice').code, 0);
  assert.equal(tg('limit', 'set', '--user', 'alice', '--rpm', '60', '--tpm', '100000', '--concurrency', '4').code, 0);
  const narrowed = tg('limit', 'set', '--user', 'alice', '--tpm', '1000', '--json');
  assert.equal(narrowed.code, 0, narrowed.stderr);
  const policy = JSON.parse(narrowed.stdout);
  assert.deepEqual([policy.subject, policy.rpm, policy.tpm, policy.concurrency], ['alice', 60, 1000, 4]);

  const noFlag = tg('limit', 'set', '--user', 'alice');
  assert.equal(noFlag.code, 2);
  assert.match(noFlag.stderr, /at least one of --rpm, --tpm, --concurrency.*limit remove/);
  assert.equal(tg('limit', 'set', '--user', 'alice', '--rpm', 'fast').code, 2);

  assert.equal(tg('limit', 'set', '--user', 'alice', '--rpm', 'none').code, 0);
  const listed = JSON.parse(tg('limit', 'list', '--json').stdout);
  assert.equal(listed.length, 1);
  assert.deepEqual({ ...listed[0], subject_id: 0 }, { scope: 'user', subject: 'alice', subject_id: 0, rpm: null, tpm: 1000, concurrency: 4 });
  assert.equal(tg('limit', 'set', '--user', 'alice', '--model', 'gpt-4o', '--rpm', '5').code, 0);
  const table = tg('limit', 'list').stdout;
  assert.match(table, /user\s+alice\s/);
  assert.match(table, /user_model\s+alice:gpt-4o\s/);

  const removed = JSON.parse(tg('limit', 'remove', '--user', 'alice', '--json').stdout);
  assert.equal(removed.removed, true);
  assert.deepEqual(JSON.parse(tg('limit', 'list', '--json').stdout).map((p: { scope: string }) => p.scope), ['user_model']);
});

test('channel add: its help names every type and its base URL and the price rule; unpriced models are pointed out', () => {
  const help = tollgateIn(root, 'channel', 'add', '--help');
  assert.equal(help.code, 0);
  for (const text of ['anthropic', 'https://api.anthropic.com', 'https://api.openai.com/v1', 'model_not_priced', 'tollgate price set --model <model> --free']) assert.ok(help.stdout.includes(text), text);

  const deployment = join(root, 'channels');
  mkdirSync(deployment);
  const tg = (...args: string[]) => tollgateIn(deployment, ...args);
  assert.equal(tg('price', 'set', '--model', 'gpt-4o', '--input', '2500000', '--output', '10000000').code, 0);
  const added = tg('channel', 'add', '--name', 'openai', '--base-url', 'https://api.openai.com/v1', '--models', 'gpt-4o,gpt-4o-mini', '--key', 'sk-test');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stderr, /note: 'gpt-4o-mini' has no price, so clients get 403 model_not_priced for it: tollgate price set --model gpt-4o-mini /);
  assert.doesNotMatch(added.stderr, /'gpt-4o' has no price/);
  const claude = tg('channel', 'add', '--name', 'claude', '--type', 'anthropic', '--base-url', 'https://api.anthropic.com', '--models', 'claude-x');
  assert.equal(claude.code, 0, claude.stderr);
  assert.match(claude.stdout, /anthropic/);
  const wrongType = tg('channel', 'add', '--name', 'x', '--type', 'claude', '--base-url', 'https://api.anthropic.com', '--models', 'm');
  assert.equal(wrongType.code, 2);
  assert.match(wrongType.stderr, /openai.*anthropic.*mock/);
});

test('npm ci: every installed dependency with an install script is reviewed in package.json allowScripts', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
  const names = readdirSync(modules).flatMap((d) => (d.startsWith('@') ? readdirSync(join(modules, d)).map((n) => `${d}/${n}`) : [d]));
  const withScripts = names.filter((name) => {
    const file = join(modules, name, 'package.json');
    if (!existsSync(file)) return false;
    const scripts = JSON.parse(readFileSync(file, 'utf8')).scripts ?? {};
    // npm runs `node-gyp rebuild` for a package with a binding.gyp and no install script of its own.
    return ['preinstall', 'install', 'postinstall'].some((s) => scripts[s] !== undefined) || existsSync(join(modules, name, 'binding.gyp'));
  });
  assert.ok(withScripts.includes('better-sqlite3'), 'the native SQLite binding builds at install');
  for (const name of withScripts) assert.equal(pkg.allowScripts?.[name], true, `${name} is in allowScripts`);
});
