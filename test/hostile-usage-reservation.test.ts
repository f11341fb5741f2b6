/**
 * Money: a request may not cost more than it reserved plus the overdraft.
 * `{"max_tokens":1,"max_completion_tokens":2000}` against an upstream that
 * honours max_completion_tokens (the mock does, like several OpenAI-compatible
 * servers) used to reserve for 1 token and spend for 2,000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture } from './support/gateway-fixture.ts';

test('20 concurrent requests with max_tokens 1 and max_completion_tokens 2000: spend stays within the balance', async () => {
  const fx = await startFixture();
  try {
    // 1 micro-credit per completion token, prompt free.
    await fx.tg.store.prices.set({ model: 'mock-gpt', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 1_000_000, free: false });
    const balance = 5_000; // two answers of 2,000 tokens fit, not three
    const payer = await fx.newUser('payer', balance);
    await fx.tg.sync.pollNow();
    const results = await Promise.all(Array.from({ length: 20 }, () => fetch(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${payer.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-gpt', max_tokens: 1, max_completion_tokens: 2000, messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (r) => ({ status: r.status, json: await r.json() }))));
    const ok = results.filter((r) => r.status === 200);
    assert.ok(ok.length >= 1 && ok.length <= 2, `${ok.length} answered`);
    for (const r of ok) assert.equal(r.json.usage.completion_tokens, 2000, 'the upstream honoured max_completion_tokens');
    assert.ok(results.every((r) => r.status === 200 || r.status === 402));
    await fx.tg.gateway.writer.flush();
    const spent = balance - (await fx.tg.store.users.byId(payer.userId))!.balanceMicros;
    assert.ok(spent <= balance, `spent ${spent} of ${balance}`);
    assert.equal(spent, ok.length * 2000);
  } finally {
    await fx.close();
  }
});

test('bad completion bounds are named in a 400', async () => {
  const fx = await startFixture();
  try {
    for (const [field, value] of [['max_completion_tokens', 0], ['max_output_tokens', 'x'], ['max_tokens', 1.5]] as const) {
      const r = await fetch(`${fx.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-gpt', [field]: value, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 400);
      assert.equal((await r.json()).error.param, field);
    }
  } finally {
    await fx.close();
  }
});

test('a priced request without a bound is reserved for the default, and the upstream is told that bound in the request\'s own field', async () => {
  // The mock answers 16 tokens when a request names no bound; the default here is 5.
  const fx = await startFixture({ TOLLGATE_METERING_DEFAULT_MAX_TOKENS: '5' });
  const upstream = await startMockUpstream({});
  try {
    const c = await fx.tg.store.channels.add({ name: 'claude', type: 'anthropic', baseUrl: upstream.url, models: [{ model: 'claude-x', upstreamModel: 'claude-x' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-ant-upstream');
    for (const model of ['mock-gpt', 'claude-x']) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 1_000_000, free: false });
    await fx.tg.store.users.credit(fx.userId, 1_000_000);
    await fx.tg.sync.pollNow();
    const post = async (path: string, body: object) => {
      const r = await fetch(`${fx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(r.status, 200, path);
      return r.json();
    };
    const chat = await post('/v1/chat/completions', { model: 'mock-gpt', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.usage.completion_tokens, 5);
    const text = await post('/v1/completions', { model: 'mock-gpt', prompt: 'hi' });
    assert.equal(text.usage.completion_tokens, 5);
    const msg = await post('/v1/messages', { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(msg.usage.output_tokens, 5);
    assert.equal(upstream.stats.lastRequest?.body.max_tokens, 5, 'Anthropic gets max_tokens');
    // A renamed or re-serialised body keeps the bound too: a stream with its own stream_options.
    const r = await fetch(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-gpt', stream: true, stream_options: {}, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200);
    await r.text();
    await fx.tg.gateway.writer.flush();
    const page = await fx.tg.store.usage.page({ userId: fx.userId, limit: 10 });
    assert.deepEqual(page.records.map((rec) => rec.completionTokens), [5, 5, 5, 5]);
  } finally {
    await fx.close();
    await upstream.close();
  }
});
