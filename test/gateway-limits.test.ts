/**
 * Limits through the HTTP hot path: exact admission under concurrency, 429 in
 * OpenAI's shape with Retry-After and the x-ratelimit-* headers, concurrency
 * slots released, and policies changed without restart.
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

function chat(key: string, extra: Record<string, unknown> = {}) {
  return request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10, ...extra }),
  });
}

test('RPM limit: exactly the limit admitted out of 200 concurrent requests; 429s carry Retry-After and headers', async () => {
  const u = await fx.newUser('rpm-user');
  await fx.tg.store.limits.set({ scope: 'user', subject: String(u.userId), rpm: 25, tpm: null, concurrency: null });
  await fx.tg.sync.pollNow();
  const started = Date.now();
  const responses = await Promise.all(Array.from({ length: 200 }, () => chat(u.key)));
  const elapsed = Date.now() - started;
  const bodies = await Promise.all(responses.map((r) => r.body.json() as Promise<any>));
  const ok = responses.filter((r) => r.statusCode === 200);
  const limited = responses.map((r, i) => ({ r, b: bodies[i] })).filter(({ r }) => r.statusCode === 429);
  // GCRA: a burst of up to the limit, then one more every 60 s / 25 = 2.4 s.
  assert.ok(ok.length >= 25 && ok.length <= 25 + Math.floor(elapsed / 2400), `admitted ${ok.length} in ${elapsed} ms`);
  assert.equal(limited.length, 200 - ok.length);
  const { r, b } = limited[0];
  assert.equal(b.error.type, 'rate_limit_exceeded');
  assert.match(b.error.message, /RPM/);
  assert.ok(Number(r.headers['retry-after']) >= 1);
  assert.equal(r.headers['x-ratelimit-limit-requests'], '25');
  assert.equal(r.headers['x-ratelimit-remaining-requests'], '0');
  assert.equal(ok[0].headers['x-ratelimit-limit-requests'], '25');
  assert.ok(ok[0].headers['x-ratelimit-reset-requests'] !== undefined);
});

test('limit removed → takes effect without restart', async () => {
  const u = await fx.newUser('rpm-user-2');
  await fx.tg.store.limits.set({ scope: 'user', subject: String(u.userId), rpm: 1, tpm: null, concurrency: null });
  await fx.tg.sync.pollNow();
  assert.equal((await chat(u.key)).statusCode, 200);
  assert.equal((await chat(u.key)).statusCode, 429);
  await fx.tg.store.limits.remove('user', String(u.userId));
  await fx.tg.sync.pollNow();
  assert.equal((await chat(u.key)).statusCode, 200);
});

test('TPM headers show the tokens trio', async () => {
  const u = await fx.newUser('tpm-user');
  await fx.tg.store.limits.set({ scope: 'user', subject: String(u.userId), rpm: null, tpm: 100_000, concurrency: null });
  await fx.tg.sync.pollNow();
  const res = await chat(u.key);
  await res.body.json();
  assert.equal(res.headers['x-ratelimit-limit-tokens'], '100000');
  assert.ok(Number(res.headers['x-ratelimit-remaining-tokens']) < 100_000);
  assert.ok(res.headers['x-ratelimit-reset-tokens'] !== undefined);
});

test('concurrency limit: slots are released after each request, including after a client disconnect', async () => {
  const u = await fx.newUser('conc-user');
  await fx.tg.store.limits.set({ scope: 'user', subject: String(u.userId), rpm: null, tpm: null, concurrency: 2 });
  await fx.tg.sync.pollNow();
  for (let i = 0; i < 5; i++) {
    const r = await chat(u.key);
    assert.equal(r.statusCode, 200);
    await r.body.json();
  }
  // Disconnect mid-stream twice; the slots must come back.
  for (let i = 0; i < 2; i++) {
    const controller = new AbortController();
    const r = await request(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${u.key}`, 'content-type': 'application/json', 'x-mock-chunk-delay-ms': '50' },
      body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50, stream: true }),
    });
    for await (const _ of r.body) break;
    controller.abort();
  }
  const deadline = Date.now() + 3000;
  while (fx.tg.gateway.active.size > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
  const results = await Promise.all([chat(u.key), chat(u.key)]);
  assert.deepEqual(results.map((r) => r.statusCode), [200, 200]);
  await Promise.all(results.map((r) => r.body.json()));
});
