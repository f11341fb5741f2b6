/**
 * What a refused client is told: a 429 names the user and key by name, a 402
 * gives the balance against what the request needs, and an unknown URL names
 * the method and path and where the supported ones are listed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

let fx: Fixture;
before(async () => {
  fx = await startFixture();
});
after(() => fx.close());

async function chat(key: string, model: string, extra: Record<string, unknown> = {}) {
  const r = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  return { status: r.statusCode, body: (await r.body.json()) as any };
}

test('a 429 names the user and the key, not their ids', async () => {
  const u = await fx.newUser('carol');
  await fx.tg.store.limits.set({ scope: 'user', subject: String(u.userId), rpm: 1, tpm: null, concurrency: null });
  await fx.tg.store.limits.set({ scope: 'key', subject: String(u.keyId), rpm: 5, tpm: null, concurrency: 1_000 });
  await fx.tg.sync.pollNow();
  assert.equal((await chat(u.key, 'mock-gpt')).status, 200);
  const userRefused = await chat(u.key, 'mock-gpt');
  assert.equal(userRefused.status, 429);
  assert.match(userRefused.body.error.message, /^Rate limit reached for user 'carol' on requests per min \(RPM\): Limit 1\./);

  await fx.tg.store.limits.remove('user', String(u.userId));
  await fx.tg.store.limits.set({ scope: 'key', subject: String(u.keyId), rpm: 1, tpm: null, concurrency: null });
  await fx.tg.sync.pollNow();
  const keyRefused = await chat(u.key, 'mock-gpt');
  assert.equal(keyRefused.status, 429);
  assert.match(keyRefused.body.error.message, /for key 'test' of user 'carol'/);
  assert.doesNotMatch(keyRefused.body.error.message, new RegExp(`(user|key) ${u.userId}\\b|(user|key) ${u.keyId}\\b`));
});

test('a 402 gives the balance and the amount the request needs', async () => {
  // 1,000 µcredits per completion token, nothing for the prompt: max_tokens 10 needs 10,000.
  await fx.tg.store.prices.set({ model: 'mock-gpt-large', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 1_000 * 1_000_000, free: false });
  const u = await fx.newUser('dave', 2_500);
  await fx.tg.sync.pollNow();
  const bounded = await chat(u.key, 'mock-gpt-large', { max_tokens: 10 });
  assert.equal(bounded.status, 402);
  assert.equal(bounded.body.error.code, 'insufficient_quota');
  assert.match(bounded.body.error.message, /user 'dave' has a balance of 2500 micro-credits; this request to 'mock-gpt-large' needs up to 10000 micro-credits\. Add credits or lower max_tokens\./);
  const unbounded = await chat(u.key, 'mock-gpt-large');
  assert.equal(unbounded.status, 402);
  const defaultBound = fx.tg.config.metering.defaultMaxTokens;
  assert.match(unbounded.body.error.message, new RegExp(`needs up to ${defaultBound * 1_000} micro-credits \\(no max_tokens given: ${defaultBound} assumed\\)`));
});

test('an unknown URL names the method and path (not the query) and points to the list, in the OpenAI shape', async () => {
  for (const [method, path] of [['GET', '/v1/chat/completion'], ['POST', '/v2/chat/completions'], ['GET', '/nothing-here']] as const) {
    const r = await request(`${fx.url}${path}?api_key=sk-secret-in-query`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
    const body = (await r.body.json()) as any;
    assert.equal(r.statusCode, 404, path);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.code, 'unknown_url');
    assert.ok(body.error.message.startsWith(`Unknown request URL: ${method} ${path}. `), body.error.message);
    assert.match(body.error.message, /POST \/v1\/chat\/completions.*README, section API/);
    assert.doesNotMatch(body.error.message, /sk-secret/);
  }
});
