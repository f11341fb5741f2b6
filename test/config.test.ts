/** Configuration: defaults, YAML file, env overrides, and errors that name the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, ConfigError, envNameFor, findDeploymentDir } from '../src/config.ts';

test('defaults serve the embedded mode', () => {
  const c = loadConfig({ file: null, env: {} });
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8080);
  assert.equal(c.dataDir, './data');
  assert.equal(c.databaseUrl, null);
  assert.equal(c.redisUrl, null);
  assert.equal(c.mockChannel, true);
  assert.equal(c.bodyLimitBytes, 4 * 1024 * 1024);
});

test('yaml file, then env overrides on top; DATABASE_URL and REDIS_URL without prefix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
  try {
    const file = join(dir, 'tollgate.yaml');
    writeFileSync(file, 'port: 9000\nupstream:\n  maxAttempts: 5\n  onClientAbort: drain\nmockChannel: false\n');
    const c = loadConfig({ file, env: { TOLLGATE_UPSTREAM_MAX_ATTEMPTS: '7', TOLLGATE_HOST: '0.0.0.0', DATABASE_URL: 'postgres://x@y/z', REDIS_URL: 'redis://r:6379', TOLLGATE_REQUEST_LOG: 'false' } });
    assert.equal(c.port, 9000);
    assert.equal(c.upstream.maxAttempts, 7);
    assert.equal(c.upstream.onClientAbort, 'drain');
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.mockChannel, false);
    assert.equal(c.requestLog, false);
    assert.equal(c.databaseUrl, 'postgres://x@y/z');
    assert.equal(c.redisUrl, 'redis://r:6379');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('env names follow the field path', () => {
  assert.equal(envNameFor(['upstream', 'maxAttempts']), 'TOLLGATE_UPSTREAM_MAX_ATTEMPTS');
  assert.equal(envNameFor(['dataDir']), 'TOLLGATE_DATA_DIR');
  assert.equal(envNameFor(['adminToken']), 'TOLLGATE_ADMIN_TOKEN');
});

test('invalid values are refused with the field, its env name and the value', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ TOLLGATE_PORT: '70000' }, /port \(env TOLLGATE_PORT\) = "70000"/],
    [{ TOLLGATE_UPSTREAM_ON_CLIENT_ABORT: 'maybe' }, /upstream\.onClientAbort .* = "maybe"/],
    [{ TOLLGATE_ADMIN_TOKEN: 'short' }, /adminToken .*16 characters/],
    [{ TOLLGATE_METRICS: 'perhaps' }, /metrics .* = "perhaps"/],
    [{ TOLLGATE_BUDGETS_TIME_ZONE: 'Mars/Olympus' }, /budgets\.timeZone \(env TOLLGATE_BUDGETS_TIME_ZONE\) = "Mars\/Olympus": must be an IANA time zone/],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(() => loadConfig({ file: null, env }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));
  }
  assert.throws(() => loadConfig({ file: '/nonexistent/tollgate.yaml', env: {} }), ConfigError);
});

test('trusted proxy header and proxies: lower-cased header, CIDR list from env, bad CIDR named, proxies without a header refused', () => {
  const c = loadConfig({ file: null, env: { TOLLGATE_TRUSTED_PROXY_HEADER: 'X-Forwarded-For', TOLLGATE_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8' } });
  assert.equal(c.trustedProxyHeader, 'x-forwarded-for');
  assert.deepEqual(c.trustedProxies, ['10.0.0.0/8', 'fd00::/8']);
  const off = loadConfig({ file: null, env: {} });
  assert.deepEqual([off.trustedProxyHeader, off.trustedProxies], [null, []]);
  assert.throws(() => loadConfig({ file: null, env: { TOLLGATE_TRUSTED_PROXY_HEADER: 'x-forwarded-for', TOLLGATE_TRUSTED_PROXIES: '10.0.0.0/33' } }),
    (err: unknown) => err instanceof ConfigError && /trustedProxies \(env TOLLGATE_TRUSTED_PROXIES\) = "10\.0\.0\.0\/33": '10\.0\.0\.0\/33' is not a CIDR/.test(err.message));
  assert.throws(() => loadConfig({ file: null, env: { TOLLGATE_TRUSTED_PROXY_HEADER: 'x forwarded' } }), (err: unknown) => err instanceof ConfigError && /trustedProxyHeader/.test(err.message));
  assert.throws(() => loadConfig({ file: null, env: { TOLLGATE_TRUSTED_PROXIES: '10.0.0.0/8' } }), (err: unknown) => err instanceof ConfigError && /trustedProxies .*only with trustedProxyHeader/.test(err.message));
});

test('tollgate.example.yaml lists every field with its default', () => {
  const file = new URL('../../tollgate.example.yaml', import.meta.url).pathname;
  const defaults = loadConfig({ file: null, env: {} });
  assert.deepEqual(loadConfig({ file, env: {} }), defaults);
  const written = parseYaml(readFileSync(file, 'utf8'));
  const missing: string[] = [];
  const walk = (d: Record<string, unknown>, w: Record<string, unknown> | undefined, path: string) => {
    for (const [k, v] of Object.entries(d)) {
      if (w === undefined || !(k in w)) missing.push(path + k);
      else if (v !== null && typeof v === 'object') walk(v as Record<string, unknown>, w[k] as Record<string, unknown>, `${path}${k}.`);
    }
  };
  walk(defaults as unknown as Record<string, unknown>, written, '');
  assert.deepEqual(missing, []);
});

test('the deployment directory is found from a subdirectory; a relative dataDir belongs to it unless the env names one', () => {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-deploy-'));
  try {
    const deep = join(root, 'src', 'deep');
    mkdirSync(deep, { recursive: true });
    assert.equal(findDeploymentDir(deep), null, 'nothing marks a deployment yet');
    writeFileSync(join(root, 'tollgate.yaml'), 'dataDir: ./state\nport: 9191\n');
    assert.equal(findDeploymentDir(deep), root);
    const found = loadConfig({ env: {}, cwd: deep });
    assert.equal(found.port, 9191, 'the file found above is read');
    assert.equal(found.dataDir, join(root, 'state'));
    assert.equal(loadConfig({ env: { TOLLGATE_DATA_DIR: './mine' }, cwd: deep }).dataDir, './mine', 'an env value is as the user typed it');
    assert.equal(loadConfig({ file: join(root, 'tollgate.yaml'), env: {}, cwd: deep }).dataDir, './state', 'an explicit --config keeps the working directory');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cache: off by default; models from a comma list in env; a hit price past 1000 permille is named', () => {
  const off = loadConfig({ file: null, env: {} }).cache;
  assert.equal(off.enabled, false);
  assert.equal(off.hitPricePermille, 0);
  assert.deepEqual(off.models, []);
  const on = loadConfig({ file: null, env: { TOLLGATE_CACHE_ENABLED: 'yes', TOLLGATE_CACHE_MODELS: 'gpt-4o, mock-gpt', TOLLGATE_CACHE_L1_MAX_BYTES: '1048576', TOLLGATE_CACHE_SHARED: 'true' } }).cache;
  assert.equal(on.enabled, true);
  assert.deepEqual(on.models, ['gpt-4o', 'mock-gpt']);
  assert.equal(on.l1MaxBytes, 1048576);
  assert.equal(on.shared, true);
  assert.throws(() => loadConfig({ file: null, env: { TOLLGATE_CACHE_HIT_PRICE_PERMILLE: '1500' } }), (err: Error) => err instanceof ConfigError && err.message.includes('cache.hitPricePermille (env TOLLGATE_CACHE_HIT_PRICE_PERMILLE) = "1500"'));
});
