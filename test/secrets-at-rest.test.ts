/**
 * Upstream key secrets encrypted at rest: the sealed format, tampering and
 * wrong keys, the master key sources (env, key file with mode 0600), the raw
 * column, the start-up sealing of plaintext rows on SQLite and PostgreSQL,
 * rotation (API and CLI), and a request through a channel whose key is
 * stored sealed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { request } from 'undici';
import { isSealed, masterKey, SecretBox, SecretError, type KeyRing } from '../src/secrets/secret-box.ts';
import { loadKeyRing, parseMasterKey, SecretKeyError } from '../src/secrets/master-key.ts';
import { openStore, type Store, type StoreOptions } from '../src/store/store.ts';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture } from './support/gateway-fixture.ts';
import { runCli } from './support/serve-process.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const KEY_A = masterKey(Buffer.alloc(32, 0xa1));
const KEY_B = masterKey(Buffer.alloc(32, 0xb2));
const ring = (current = KEY_A, ...previous: typeof KEY_A[]): KeyRing => ({ current, previous });
const tempDir = () => mkdtempSync(join(tmpdir(), 'tollgate-secrets-'));

async function rawSecrets(store: Store): Promise<string[]> {
  return (await store.db.selectFrom('channel_keys').select('secret').orderBy('id').execute()).map((r) => r.secret);
}

describe('sealed format', () => {
  test('round trip, a fresh IV per value, versioned text naming the key', () => {
    const box = new SecretBox(ring());
    const a = box.seal('sk-live-123', 'channel_keys.secret:1');
    const b = box.seal('sk-live-123', 'channel_keys.secret:1');
    assert.notEqual(a, b, 'random IV');
    assert.match(a, new RegExp(`^v1:${KEY_A.id}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/=]{24}:[A-Za-z0-9+/=]+$`));
    assert.ok(!a.includes('sk-live'));
    assert.ok(isSealed(a) && !isSealed('sk-live-123'));
    assert.equal(box.open(a, 'channel_keys.secret:1'), 'sk-live-123');
    assert.equal(box.open('sk-legacy', 'channel_keys.secret:1'), 'sk-legacy', 'a legacy plaintext value opens as is');
    assert.equal(box.open(box.seal('', 'c'), 'c'), '');
  });

  test('tampering or moving a value to another row fails authentication', () => {
    const box = new SecretBox(ring());
    const sealed = box.seal('sk-live-123', 'channel_keys.secret:1');
    const parts = sealed.split(':');
    const ct = Buffer.from(parts[4], 'base64');
    ct[0] ^= 1;
    const tampered = [...parts.slice(0, 4), ct.toString('base64')].join(':');
    assert.throws(() => box.open(tampered, 'channel_keys.secret:1'), (err: Error) => err instanceof SecretError && /altered or moved/.test(err.message));
    assert.throws(() => box.open(sealed, 'channel_keys.secret:2'), SecretError);
  });

  test('a wrong key is a clear error naming the key ids, never a key', () => {
    const sealed = new SecretBox(ring(KEY_A)).seal('sk-live-123', 'c');
    assert.throws(() => new SecretBox(ring(KEY_B)).open(sealed, 'c'), (err: Error) => {
      assert.ok(err instanceof SecretError);
      assert.match(err.message, new RegExp(`master key ${KEY_A.id}, which is not configured \\(configured: ${KEY_B.id}\\)`));
      assert.match(err.message, /TOLLGATE_SECRET_KEY/);
      return true;
    });
    // The previous key still opens it during a rotation.
    assert.equal(new SecretBox(ring(KEY_B, KEY_A)).open(sealed, 'c'), 'sk-live-123');
  });
});

describe('master key sources', () => {
  let dir: string;
  before(() => (dir = tempDir()));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('env key: 64 hex digits or base64 of 32 bytes; anything else is refused without echoing it', () => {
    const raw = Buffer.alloc(32, 9);
    assert.deepEqual(parseMasterKey(raw.toString('hex'), 'X'), raw);
    assert.deepEqual(parseMasterKey(raw.toString('base64'), 'X'), raw);
    assert.deepEqual(parseMasterKey(raw.toString('base64url'), 'X'), raw);
    for (const bad of ['too-short-secret-value', raw.toString('hex').slice(2), Buffer.alloc(31).toString('base64')]) {
      assert.throws(() => parseMasterKey(bad, 'TOLLGATE_SECRET_KEY'), (err: Error) => err instanceof SecretKeyError && /32-byte key/.test(err.message) && !err.message.includes(bad));
    }
    const env = { TOLLGATE_SECRET_KEY: raw.toString('base64'), TOLLGATE_SECRET_KEY_PREVIOUS: KEY_B.key.toString('hex') };
    const r = loadKeyRing({ env, dataDir: join(dir, 'env-only') });
    assert.equal(r.current.id, masterKey(raw).id);
    assert.deepEqual(r.previous.map((k) => k.id), [KEY_B.id]);
    assert.equal(existsSync(join(dir, 'env-only', 'secret.key')), false, 'no key file when the env gives the key');
  });

  test('key file: created at first use with mode 0600, the same key afterwards; a looser mode is refused', () => {
    const dataDir = join(dir, 'file');
    const first = loadKeyRing({ env: {}, dataDir });
    const file = join(dataDir, 'secret.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(loadKeyRing({ env: {}, dataDir }).current.id, first.current.id);
    assert.ok(!readFileSync(file, 'utf8').includes(first.current.id));
    chmodSync(file, 0o644);
    assert.throws(() => loadKeyRing({ env: {}, dataDir }), (err: Error) => err instanceof SecretKeyError && /mode 0644.*chmod 600/.test(err.message));
    chmodSync(file, 0o600);
    writeFileSync(join(dataDir, 'secret.key.previous'), KEY_B.key.toString('base64'), { mode: 0o600 });
    assert.deepEqual(loadKeyRing({ env: {}, dataDir }).previous.map((k) => k.id), [KEY_B.id]);
  });
});

/** Opens a store of either dialect with a fixed key ring, and lets a test write legacy plaintext rows. */
function storeSuite(name: string, options: () => Promise<{ opts: Omit<StoreOptions, 'secrets'>; cleanup: () => Promise<void> }>) {
  describe(`at rest: ${name}`, () => {
    let opts: Omit<StoreOptions, 'secrets'>;
    let cleanup: () => Promise<void>;
    before(async () => ({ opts, cleanup } = await options()));
    after(() => cleanup());
    const open = (keys: KeyRing) => openStore({ ...opts, secrets: new SecretBox(keys) });

    test('rows hold no plaintext; listFull opens them', async () => {
      const store = await open(ring());
      try {
        const ch = await store.channels.add({ name: `raw-${name}`, type: 'openai', baseUrl: 'https://api.example.com/v1', models: [] });
        const k = await store.channels.addKey(ch.id, 'sk-raw-secret-1');
        assert.equal(k.secret, 'sk-raw-secret-1');
        const raw = await rawSecrets(store);
        assert.ok(raw.length > 0 && raw.every(isSealed), JSON.stringify(raw));
        assert.ok(!raw.some((s) => s.includes('sk-raw-secret')));
        const full = (await store.channels.listFull()).find((c) => c.id === ch.id)!;
        assert.deepEqual(full.keys.map((x) => x.secret), ['sk-raw-secret-1']);
      } finally {
        await store.close();
      }
    });

    test('plaintext rows from before are sealed at start, once (idempotent)', async () => {
      const store = await open(ring());
      let ids: number[];
      try {
        const ch = await store.channels.add({ name: `legacy-${name}`, type: 'openai', baseUrl: 'https://api.example.com/v1', models: [] });
        // As an older version wrote them: straight into the column.
        ids = (await store.db.insertInto('channel_keys').values([
          { channel_id: ch.id, secret: 'sk-legacy-1', created_at: 1 },
          { channel_id: ch.id, secret: 'sk-legacy-2', created_at: 1 },
        ]).returning('id').execute()).map((r) => r.id);
      } finally {
        await store.close();
      }
      const reopened = await open(ring());
      let sealed: string[];
      try {
        const rows = await reopened.db.selectFrom('channel_keys').select(['id', 'secret']).where('id', 'in', ids).orderBy('id').execute();
        sealed = rows.map((r) => r.secret);
        assert.ok(sealed.every(isSealed), JSON.stringify(sealed));
        const all = (await reopened.channels.listFull()).flatMap((c) => c.keys).filter((k) => ids.includes(k.id));
        assert.deepEqual(all.map((k) => k.secret), ['sk-legacy-1', 'sk-legacy-2']);
      } finally {
        await reopened.close();
      }
      const again = await open(ring());
      try {
        const rows = await again.db.selectFrom('channel_keys').select('secret').where('id', 'in', ids).orderBy('id').execute();
        assert.deepEqual(rows.map((r) => r.secret), sealed, 'a second start changes nothing');
      } finally {
        await again.close();
      }
    });

    test('rotation re-seals every row with the new key in one go; an unknown key aborts it unchanged', async () => {
      const before = await open(ring(KEY_A));
      try {
        const ch = await before.channels.add({ name: `rot-${name}`, type: 'openai', baseUrl: 'https://api.example.com/v1', models: [] });
        await before.channels.addKey(ch.id, 'sk-rot-1');
      } finally {
        await before.close();
      }
      // Without the old key configured, nothing is touched.
      const blind = await open(ring(KEY_B));
      try {
        const raw = await rawSecrets(blind);
        await assert.rejects(blind.rotateSecrets(), SecretError);
        assert.deepEqual(await rawSecrets(blind), raw);
      } finally {
        await blind.close();
      }
      const rotating = await open(ring(KEY_B, KEY_A));
      try {
        const r = await rotating.rotateSecrets();
        assert.equal(r.keyId, KEY_B.id);
        assert.ok(r.changed > 0 && r.changed === r.rows, JSON.stringify(r));
        assert.ok((await rawSecrets(rotating)).every((s) => s.startsWith(`v1:${KEY_B.id}:`)));
        assert.equal((await rotating.rotateSecrets()).changed, 0, 'idempotent');
      } finally {
        await rotating.close();
      }
      const after = await open(ring(KEY_B));
      try {
        const keys = (await after.channels.listFull()).find((c) => c.name === `rot-${name}`)!.keys;
        assert.deepEqual(keys.map((k) => k.secret), ['sk-rot-1'], 'the new key alone opens every row');
      } finally {
        await after.close();
      }
    });
  });
}

storeSuite('sqlite', async () => {
  const dir = tempDir();
  return { opts: { dataDir: dir }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

storeSuite('postgres', async () => {
  const schema = `tg_secrets_${process.pid}_${Date.now()}`;
  const opts = { databaseUrl: PG_URL, dataDir: '/nonexistent', postgres: { schema, poolSize: 2 } };
  return {
    opts,
    cleanup: async () => {
      const store = await openStore({ ...opts, secrets: new SecretBox(ring()) });
      await sql`drop schema ${sql.id(schema)} cascade`.execute(store.db);
      await store.close();
    },
  };
});

test('a request through a channel whose key is stored sealed reaches the upstream with the clear key', async () => {
  const fx = await startFixture();
  const upstream = await startMockUpstream();
  try {
    const file = join(fx.dataDir, 'secret.key');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the server created its key file at start, mode 0600');
    const ch = await fx.tg.store.channels.add({ name: 'sealed', type: 'openai', baseUrl: upstream.url, priority: 10, models: [{ model: 'gpt-sealed', upstreamModel: 'gpt-sealed' }] });
    await fx.tg.store.channels.addKey(ch.id, 'sk-sealed-upstream-key');
    await fx.tg.store.prices.set({ model: 'gpt-sealed', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
    await fx.tg.sync.pollNow();
    assert.ok((await rawSecrets(fx.tg.store)).every((s) => isSealed(s) && !s.includes('sk-sealed')));
    const res = await request(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-sealed', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    assert.equal(res.statusCode, 200, await res.body.text());
    assert.equal(upstream.stats.lastRequest?.headers.authorization, 'Bearer sk-sealed-upstream-key');
  } finally {
    await fx.close();
    await upstream.close();
  }
});

test('CLI: channel key stored sealed; secrets rotate --new-key keeps the old key as .previous and re-seals; exit 2 on a bad env key', () => {
  const dataDir = tempDir();
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.TOLLGATE_SECRET_KEY;
  delete env.TOLLGATE_SECRET_KEY_PREVIOUS;
  try {
    const add = runCli(env, 'channel', 'add', '--name', 'up', '--base-url', 'https://api.example.com/v1', '--models', 'gpt-x', '--key', 'sk-cli-secret-1');
    assert.equal(add.code, 0, add.stderr);
    const oldId = loadKeyRing({ env: {}, dataDir }).current.id;
    const rotate = runCli(env, 'secrets', 'rotate', '--new-key', '--json');
    assert.equal(rotate.code, 0, rotate.stderr);
    const out = JSON.parse(rotate.stdout);
    assert.notEqual(out.key_id, oldId);
    assert.deepEqual([out.rows, out.reencrypted], [1, 1]);
    assert.equal(statSync(join(dataDir, 'secret.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'secret.key.previous')).mode & 0o777, 0o600);
    assert.ok(!rotate.stdout.includes('sk-cli') && !rotate.stderr.includes('sk-cli'));
    // A second --new-key before the first rotation is cleaned up is a usage error.
    assert.equal(runCli(env, 'secrets', 'rotate', '--new-key').code, 2);
    rmSync(join(dataDir, 'secret.key.previous'));
    const list = runCli(env, 'channel', 'list', '--json');
    assert.equal(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout)[0].keys, 1);
    const bad = runCli({ ...env, TOLLGATE_SECRET_KEY: 'not-a-key' }, 'secrets', 'rotate');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /TOLLGATE_SECRET_KEY must be a 32-byte key/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
