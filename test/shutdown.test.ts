/**
 * SIGTERM under load, against a spawned `tollgate serve`: readiness flips at
 * once, requests in flight finish (or are cut at the grace deadline), every
 * request that reached the upstream is metered exactly once, the balance
 * matches the records, and the process exits 0.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../src/mock/mock-upstream.ts';
import { openStore } from '../src/store/store.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../src/keys/client-key.ts';
import { startServe } from './support/serve-process.ts';
import { storedUsage } from './support/stored-usage.ts';

let mock: MockUpstream;
const dirs: string[] = [];
const agent = new Agent({ connections: 100 });

before(async () => {
  mock = await startMockUpstream({ chunks: 8 });
});
after(async () => {
  await mock.close();
  await agent.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A data dir with a priced channel to the mock and a credited user; returns the env and key. */
async function prepare(credit: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-shutdown-'));
  dirs.push(dataDir);
  const store = await openStore({ dataDir });
  const user = await store.users.create({ name: 'u' });
  await store.users.credit(user.id, credit);
  const key = generateClientKey();
  await store.keys.insert({ userId: user.id, name: 'k', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  const ch = await store.channels.add({ name: 'up', type: 'openai', baseUrl: mock.url, models: [{ model: 'paid', upstreamModel: 'paid' }] });
  await store.channels.addKey(ch.id, 'sk-up');
  await store.prices.set({ model: 'paid', channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000, free: false });
  await store.close();
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'warn', TOLLGATE_MOCK_CHANNEL: 'false' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return { dataDir, env, key, userId: user.id, credit };
}

function stream(base: string, key: string) {
  return request(`${base}/v1/chat/completions`, {
    dispatcher: agent,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'paid', messages: [{ role: 'user', content: 'stream please' }], max_tokens: 16, stream: true }),
  });
}

test('SIGTERM during 50 streams: readiness flips, all complete, all metered, exit 0', async () => {
  const p = await prepare(1_000_000_000);
  mock.resetStats();
  mock.setFault({ kind: 'latency', ms: 0 });
  const serve = await startServe({ ...p.env, TOLLGATE_SERVER_SHUTDOWN_GRACE_MS: '10000' });
  try {
    // Slow streams: 8 chunks 100 ms apart, about 0.8 s each.
    const slow = await startMockUpstream({ chunks: 8, chunkDelayMs: 100 });
    const store = await openStore({ dataDir: p.dataDir });
    const ch = await store.channels.add({ name: 'slow', type: 'openai', baseUrl: slow.url, priority: 10, models: [{ model: 'paid', upstreamModel: 'paid' }] });
    await store.channels.addKey(ch.id, 'sk-slow');
    await store.close();
    await new Promise((r) => setTimeout(r, 600)); // the change feed brings the channel in
    const responses = await Promise.all(Array.from({ length: 50 }, () => stream(serve.base, p.key)));
    const bodies = responses.map((r) => r.body.text());
    serve.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    const ready = await fetch(`${serve.base}/readyz`);
    assert.equal(ready.status, 503, 'readiness flips as soon as draining starts');
    const late = await stream(serve.base, p.key);
    assert.equal(late.statusCode, 503, 'new requests are refused while draining');
    await late.body.text();
    const texts = await Promise.all(bodies);
    assert.equal(texts.filter((t) => t.includes('data: [DONE]')).length, 50, 'every stream in flight completed');
    assert.equal(await serve.exited, 0);
    const { rows, balance } = await storedUsage(p.dataDir);
    assert.equal(rows.length, 50);
    assert.ok(rows.every((r) => r.outcome === 'ok' && r.completionTokens === 16));
    assert.equal(slow.stats.requests, 50);
    assert.equal(balance, p.credit - rows.reduce((s, r) => s + r.costMicros, 0));
    await slow.close();
  } finally {
    serve.child.kill('SIGKILL');
  }
});

test('SIGTERM with a short grace: streams are cut at the deadline and still metered', async () => {
  const p = await prepare(1_000_000_000);
  const slow = await startMockUpstream({ chunks: 8, chunkDelayMs: 400 });
  const store = await openStore({ dataDir: p.dataDir });
  const ch = await store.channels.add({ name: 'slow', type: 'openai', baseUrl: slow.url, priority: 10, models: [{ model: 'paid', upstreamModel: 'paid' }] });
  await store.channels.addKey(ch.id, 'sk-slow');
  await store.close();
  const serve = await startServe({ ...p.env, TOLLGATE_SERVER_SHUTDOWN_GRACE_MS: '500' });
  try {
    const responses = await Promise.all(Array.from({ length: 20 }, () => stream(serve.base, p.key)));
    const bodies = responses.map((r) => r.body.text().catch(() => ''));
    await new Promise((r) => setTimeout(r, 200));
    serve.child.kill('SIGTERM');
    const texts = await Promise.all(bodies);
    assert.equal(texts.filter((t) => t.includes('[DONE]')).length, 0, 'the streams were cut');
    assert.equal(await serve.exited, 0);
    const { rows, balance } = await storedUsage(p.dataDir);
    assert.equal(rows.length, 20);
    assert.ok(rows.every((r) => r.outcome === 'shutdown_cut' && r.completionTokens > 0 && r.completionTokens < 16), JSON.stringify(rows.map((r) => [r.outcome, r.completionTokens])));
    assert.equal(balance, p.credit - rows.reduce((s, r) => s + r.costMicros, 0));
  } finally {
    serve.child.kill('SIGKILL');
    await slow.close();
  }
});

test('SIGTERM under non-streamed load: records = upstream hits = successes, balance matches', async () => {
  const p = await prepare(1_000_000_000);
  mock.resetStats();
  mock.setFault(null);
  const serve = await startServe(p.env);
  try {
    let ok = 0;
    let refused = 0;
    let sent = 0;
    const worker = async () => {
      while (sent < 2000) {
        sent++;
        try {
          const r = await request(`${serve.base}/v1/chat/completions`, {
            dispatcher: agent,
            method: 'POST',
            headers: { authorization: `Bearer ${p.key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'paid', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 }),
          });
          await r.body.text();
          if (r.statusCode === 200) ok++;
          else if (r.statusCode === 503) refused++;
          if (ok === 300) serve.child.kill('SIGTERM');
        } catch {
          return; // the listener closed
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    assert.equal(await serve.exited, 0);
    const { rows, balance } = await storedUsage(p.dataDir);
    assert.ok(ok >= 300);
    assert.equal(rows.length, ok, `one record per success (refused while draining: ${refused})`);
    assert.equal(mock.stats.requests, ok, 'upstream hits equal records: nothing double-sent, nothing unmetered');
    assert.equal(balance, p.credit - rows.reduce((s, r) => s + r.costMicros, 0));
    assert.ok(rows.every((r) => r.costMicros > 0));
  } finally {
    serve.child.kill('SIGKILL');
  }
});
