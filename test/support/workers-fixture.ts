/** What the `serve --workers 2` tests share: upstreams, a prepared data dir, requests and readings. */
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startMockUpstream, type MockUpstream } from '../../src/mock/mock-upstream.ts';
import { openStore } from '../../src/store/store.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../../src/keys/client-key.ts';
import type { ServeProcess } from './serve-process.ts';

export const ADMIN = 'workers-test-admin-token';
let mock: MockUpstream;
let slow: MockUpstream;
const dirs: string[] = [];
// Many connections: the kernel spreads connections (not requests) over the two listeners.
export const agent = new Agent({ connections: 256, pipelining: 1 });

/** Starts the 'fast' and 'slow' upstreams before the file's tests and cleans up after them. */
export function useWorkersFixture(): void {
  before(async () => {
    mock = await startMockUpstream({ chunks: 2 });
    slow = await startMockUpstream({ chunks: 6, chunkDelayMs: 150, latencyMs: 300 });
  });
  after(async () => {
    await mock.close();
    await slow.close();
    await agent.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

/** A data dir with 'fast' and 'slow' channels (priced) and one user with a key and `credit`. */
export async function prepare(credit: number) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-workers-'));
  dirs.push(dataDir);
  const store = await openStore({ dataDir });
  const user = await store.users.create({ name: 'w' });
  if (credit > 0) await store.users.credit(user.id, credit);
  const key = generateClientKey();
  const k = await store.keys.insert({ userId: user.id, name: 'k', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
  for (const [name, up] of [['fast', mock], ['slow', slow]] as const) {
    const ch = await store.channels.add({ name, type: 'openai', baseUrl: up.url, models: [{ model: name, upstreamModel: name }] });
    await store.channels.addKey(ch.id, 'sk-up');
    await store.prices.set({ model: name, channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 2_000_000, free: false });
  }
  await store.close();
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_DATA_DIR: dataDir, TOLLGATE_LOG_LEVEL: 'info', TOLLGATE_MOCK_CHANNEL: 'false', TOLLGATE_WORKERS: '2', TOLLGATE_ADMIN_TOKEN: ADMIN };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return { dataDir, env, key, keyId: k.id, userId: user.id };
}

export function chat(base: string, key: string, model: string, stream = false, dispatcher: Agent = agent) {
  return request(`${base}/v1/chat/completions`, {
    dispatcher,
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 16, stream }),
  });
}

export async function admin(base: string, method: 'POST' | 'PUT', path: string, body: unknown) {
  const res = await request(`${base}${path}`, { dispatcher: agent, method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  return JSON.parse(text);
}

/** Sends `n` requests at once; returns how many got each status. */
export async function burst(n: number, send: () => ReturnType<typeof chat>): Promise<Map<number, number>> {
  const statuses = await Promise.all(Array.from({ length: n }, async () => {
    const res = await send();
    await res.body.text();
    return res.statusCode;
  }));
  const counts = new Map<number, number>();
  for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
  return counts;
}

/** Requests finished per worker, from the one /metrics. */
export async function perWorker(base: string, dispatcher: Agent = agent): Promise<number[]> {
  const text = await (await request(`${base}/metrics`, { dispatcher })).body.text();
  return [0, 1].map((w) => Number(new RegExp(`^tollgate_worker_requests_total\\{worker="${w}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? -1));
}

/** Opens the agent's connections before a burst, so the burst measures requests, not connects. */
export async function warmUp(base: string): Promise<void> {
  await Promise.all(Array.from({ length: 256 }, async () => (await request(`${base}/healthz`, { dispatcher: agent })).body.text()));
}

export async function stop(serve: ServeProcess): Promise<void> {
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0, serve.output());
}

export { storedUsage as usage } from './stored-usage.ts';
