/**
 * The CLI's remote mode as a user runs it (spawned processes against a
 * running gateway's admin API): the same commands, the same output as the
 * local mode, exit codes 0/1/2, and changes that apply before the command
 * returns.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';
import { chat } from './admin-api-support.ts';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
let fx: Fixture;
let upstream: MockUpstream;
let env: NodeJS.ProcessEnv;

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the CLI asynchronously: the gateway it talks to lives in this process. */
function run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}
const remote = (...args: string[]) => run(['--url', fx.url, '--admin-token', ADMIN_TOKEN, ...args]);
const local = (...args: string[]) => run(args);
const json = (r: Run) => {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

before(async () => {
  fx = await startFixture();
  upstream = await startMockUpstream();
  env = { ...process.env, TOLLGATE_DATA_DIR: fx.dataDir, TOLLGATE_LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'TOLLGATE_URL', 'TOLLGATE_ADMIN_TOKEN', 'TOLLGATE_CONFIG']) delete env[k];
});
after(async () => {
  await fx.close();
  await upstream.close();
});

test('help names the remote options and the usage commands', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--url <url>/);
  assert.match(help.stdout, /--admin-token <token>/);
  assert.match(help.stdout, /usage/);
  const usage = await run(['usage', 'stats', '--help']);
  assert.equal(usage.code, 0);
  assert.match(usage.stdout, /--by <group>/);
});

test('users and keys through the API: create, list, credit, disable; a revoked key fails at once', async () => {
  const created = json(await remote('user', 'create', '--name', 'remote-bob', '--json'));
  assert.equal(created.name, 'remote-bob');
  assert.equal(created.balance_micros, 0);
  const table = await remote('user', 'list');
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^id\s+name\s+balance_micros\s+disabled\s+created/m);
  assert.match(table.stdout, /remote-bob/);

  assert.equal(json(await remote('user', 'credit', '--user', 'remote-bob', '--add', '2500000', '--json')).balance_micros, 2_500_000);
  const key = json(await remote('key', 'create', '--user', 'remote-bob', '--json'));
  assert.match(key.key, /^tg-[0-9A-Za-z]{32}$/);
  assert.equal(await chat(fx, key.key), 200);
  const human = await remote('key', 'create', '--user', 'remote-bob');
  assert.match(human.stdout, /^tg-[0-9A-Za-z]{32}\n\(key \d+ for remote-bob; shown once/);

  const keys = await remote('key', 'list', '--user', 'remote-bob');
  assert.ok(keys.stdout.includes(key.prefix) && !keys.stdout.includes(key.key), 'the prefix, never the key');

  assert.equal((await remote('user', 'disable', '--user', 'remote-bob')).code, 0);
  assert.equal(await chat(fx, key.key), 403, 'disabled before the command returned');
  assert.equal((await remote('user', 'enable', '--user', 'remote-bob')).code, 0);
  assert.equal(await chat(fx, key.key), 200);

  const revoked = await remote('key', 'revoke', key.prefix);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(await chat(fx, key.key), 401, 'revoked before the command returned');
  assert.equal((await remote('key', 'revoke', key.prefix)).code, 2, 'no live key matches any more');
});

test('channels, prices and limits through the API take effect without restart', async () => {
  const ch = json(await remote('channel', 'add', '--name', 'remote-up', '--base-url', `${upstream.url}/v1`, '--models', 'gpt-r,alias=gpt-r', '--key', 'sk-remote', '--priority', '5', '--json'));
  assert.deepEqual(ch.models, ['gpt-r', 'alias']);
  assert.equal(ch.keys, 1);
  assert.equal(json(await remote('price', 'set', '--model', 'gpt-r', '--free', '--json')).free, true);
  assert.equal(await chat(fx, fx.key, 'gpt-r'), 200);
  assert.equal(upstream.stats.requests, 1);

  const list = json(await remote('channel', 'list', '--json'));
  assert.deepEqual(list.find((c: any) => c.name === 'remote-up').models, ['alias=gpt-r', 'gpt-r']);
  assert.equal((await remote('channel', 'disable', '--name', 'remote-up')).code, 0);
  assert.notEqual(await chat(fx, fx.key, 'gpt-r'), 200);
  assert.equal(upstream.stats.requests, 1, 'the disabled channel got nothing');
  assert.equal((await remote('channel', 'enable', '--name', 'remote-up')).code, 0);
  assert.equal(json(await remote('channel', 'key', 'add', '--channel', 'remote-up', '--key', 'sk-second', '--json')).channel, 'remote-up');

  const u = await fx.newUser('remote-limited');
  const policy = json(await remote('limit', 'set', '--user', 'remote-limited', '--rpm', '1', '--json'));
  assert.deepEqual(policy, { scope: 'user', subject: 'remote-limited', rpm: 1, tpm: null, concurrency: null, store: `admin API ${fx.url}` });
  const widened = json(await remote('limit', 'set', '--user', 'remote-limited', '--tpm', '5000', '--json'));
  assert.deepEqual([widened.rpm, widened.tpm], [1, 5000], 'remote limit set changes only the limits given (PATCH)');
  assert.equal(await chat(fx, u.key), 200);
  assert.equal(await chat(fx, u.key), 429);
  assert.equal(json(await remote('limit', 'remove', '--user', 'remote-limited', '--json')).removed, true);
  assert.equal(await chat(fx, u.key), 200);
  assert.equal(json(await remote('limit', 'remove', '--user', 'remote-limited', '--json')).removed, false);
});

test('price set with the kind prices, locally and through the API: stored, listed, and charged per kind', async () => {
  const ch = await fx.tg.store.channels.add({ name: 'kinds-up', type: 'openai', baseUrl: `${upstream.url}/v1`, models: [{ model: 'gpt-kinds', upstreamModel: 'gpt-kinds' }] });
  await fx.tg.store.channels.addKey(ch.id, 'sk-kinds');
  const kinds = (p: any) => [p.input_micros_per_mtok, p.output_micros_per_mtok, p.cached_input, p.cache_write, p.reasoning];
  const set = json(await local('price', 'set', '--model', 'gpt-kinds', '--input', '3000000', '--output', '15000000', '--cached-input', '300000', '--cache-write', '3750000', '--reasoning', '20000000', '--json'));
  assert.deepEqual(kinds(set), [3_000_000, 15_000_000, 300_000, 3_750_000, 20_000_000]);
  // Through the API a kind left out is unset (null): it costs the input / output price.
  const viaApi = json(await remote('price', 'set', '--model', 'gpt-kinds', '--input', '3000000', '--output', '15000000', '--cached-input', '300000', '--json'));
  assert.deepEqual(kinds(viaApi), [3_000_000, 15_000_000, 300_000, null, null]);
  for (const list of [await remote('price', 'list', '--json'), await local('price', 'list', '--json')]) {
    assert.deepEqual(kinds(json(list).find((p: any) => p.model === 'gpt-kinds')), [3_000_000, 15_000_000, 300_000, null, null]);
  }
  const human = await local('price', 'list');
  assert.match(human.stdout.split('\n')[0], /\bcached_input\s+cache_write\s+reasoning\b/);
  for (const run of [local, remote]) {
    const bad = await run('price', 'set', '--model', 'gpt-kinds', '--input', '1', '--output', '1', '--cache-write', 'cheap');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--cache-write must be an integer/);
    assert.equal((await run('price', 'set', '--model', 'gpt-kinds', '--input', '1', '--output', '1', '--reasoning', '-1')).code, 2);
  }

  // The price set through the API applies to the next request: 5 of its prompt tokens cached, 4 of its completion tokens reasoning.
  await fx.tg.store.users.credit(fx.userId, 1_000_000);
  await fx.tg.sync.pollNow();
  // The gateway does not forward the client's x-mock-* headers: the mock is switched instead.
  upstream.setUsage({ cached: 5, reasoning: 4 });
  const r = await fetch(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': 'cli-kinds' },
    body: JSON.stringify({ model: 'gpt-kinds', max_tokens: 5, messages: [{ role: 'user', content: 'hi there' }] }),
  }).finally(() => upstream.setUsage(null));
  assert.equal(r.status, 200);
  const usage = (await r.json()).usage;
  await fx.tg.accounting!.writer.flush();
  const rec = (await fx.tg.store.usage.page({ model: 'gpt-kinds', limit: 5 })).records.find((x) => x.requestId.startsWith('cli-kinds'))!;
  assert.deepEqual([rec.promptTokens, rec.completionTokens, rec.cachedTokens, rec.reasoningTokens], [usage.prompt_tokens, usage.completion_tokens, 5, 4]);
  const expected = Math.ceil(((rec.promptTokens - 5) * 3_000_000 + 5 * 300_000 + rec.completionTokens * 15_000_000) / 1_000_000);
  assert.equal(rec.costMicros, expected, 'cached tokens at the cached price, reasoning (unset) at the output price');
});

test('remote and local modes print the same thing', async () => {
  await fx.tg.accounting!.writer.flush();
  await fx.tg.store.limits.set({ scope: 'model', subject: 'gpt-r', rpm: 99, tpm: null, concurrency: null });
  for (const args of [
    ['user', 'list'], ['key', 'list'], ['channel', 'list'], ['price', 'list'], ['limit', 'list'],
    ['usage', 'list', '--limit', '3'], ['usage', 'stats', '--by', 'model'], ['usage', 'stats', '--by', 'hour'], ['usage', 'stats', '--by', 'user'],
  ]) {
    for (const format of [[], ['--json']]) {
      const [r, l] = await Promise.all([remote(...args, ...format), local(...args, ...format)]);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(l.code, 0, `${args.join(' ')}: ${l.stderr}`);
      // A --json object names its store; the rest is the same.
      const sameOutput = (out: string) => (format.length === 0 ? out : JSON.stringify({ ...JSON.parse(out), store: undefined }));
      assert.equal(sameOutput(r.stdout), sameOutput(l.stdout), `${args.join(' ')} ${format.join(' ')}`);
      // Only the line naming the store differs: the admin API here, the SQLite file there.
      assert.ok(r.stderr.startsWith(`store: admin API ${fx.url}\n`), r.stderr);
      assert.ok(l.stderr.startsWith(`store: sqlite ${fx.dataDir}/tollgate.db\n`), l.stderr);
      assert.equal(r.stderr.replace(/^store: .*\n/, ''), l.stderr.replace(/^store: .*\n/, ''));
    }
  }
});

test('usage list pages with a cursor and filters; usage stats groups', async () => {
  await fx.tg.accounting!.writer.flush();
  const first = json(await remote('usage', 'list', '--limit', '2', '--json'));
  assert.equal(first.data.length, 2);
  assert.equal(typeof first.next_cursor, 'string');
  const second = json(await remote('usage', 'list', '--limit', '2', '--cursor', first.next_cursor, '--json'));
  assert.ok(second.data.every((r: any) => !first.data.some((f: any) => f.id === r.id)));
  const human = await remote('usage', 'list', '--limit', '1');
  assert.match(human.stderr, /\(more: --cursor \S+\)/);
  const mine = json(await remote('usage', 'list', '--user', 'alice', '--model', 'gpt-r', '--json'));
  assert.ok(mine.data.length >= 1 && mine.data.every((r: any) => r.model === 'gpt-r' && r.user_id === fx.userId));
  assert.ok(mine.data.every((r: any) => r.user === 'alice' && /^test \(tg-/.test(r.key)), 'records name the user and key');
  const humanMine = await remote('usage', 'list', '--user', 'alice', '--limit', '1');
  assert.match(humanMine.stdout.split('\n')[0], /\buser\s+key\b/);
  assert.doesNotMatch(humanMine.stdout, /user_id|key_id/, 'the table shows names, not ids');
  const byUser = json(await remote('usage', 'stats', '--by', 'user', '--json'));
  assert.ok(byUser.some((b: any) => b.user === 'alice' && b.user_id === fx.userId));
  const byModel = json(await remote('usage', 'stats', '--by', 'model', '--json'));
  assert.ok(byModel.some((b: any) => b.model === 'gpt-r' && b.requests >= 1));
  const byDay = json(await remote('usage', 'stats', '--json'));
  assert.match(byDay[0].day, /^\d{4}-\d{2}-\d{2}$/);
});

test('exit codes: 1 for refused or failed calls, 2 for usage errors', async () => {
  const dup = await remote('user', 'create', '--name', 'alice');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /already exists/);
  const wrong = await run(['--url', fx.url, '--admin-token', 'wrong-token-0123456789', 'user', 'list']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /admin API refused \(401\)/);
  assert.doesNotMatch(wrong.stderr, /at .*\.js/, 'a message, not a stack trace');
  const down = await run(['--url', 'http://127.0.0.1:9', '--admin-token', ADMIN_TOKEN, 'user', 'list']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach/);
  const viaEnv = await run(['user', 'list', '--json'], { TOLLGATE_URL: fx.url, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);

  assert.equal((await run(['--url', fx.url, 'user', 'list'])).code, 2, '--url without a token');
  assert.equal((await run(['--url', 'localhost:8080', '--admin-token', ADMIN_TOKEN, 'user', 'list'])).code, 2, 'not a URL');
  assert.equal((await remote('user', 'create')).code, 2, 'missing --name');
  assert.equal((await remote('user', 'credit', '--user', 'nobody', '--add', '5')).code, 2, 'unknown user name');
  assert.equal((await remote('user', 'credit', '--user', 'alice', '--add', 'lots')).code, 2);
  assert.equal((await remote('usage', 'stats', '--by', 'week')).code, 2);
  assert.equal((await remote('usage', 'list', '--from', 'yesterday')).code, 2);
  assert.equal((await remote('channel', 'disable', '--name', 'nope')).code, 2);
});
