/**
 * Money: a request may not cost more than it reserved plus the overdraft.
 * `{"max_tokens":1,"max_completion_tokens":2000}` against an upstream that
 * honours max_completion_tokens (the mock does, like several OpenAI-compatible
 * servers) used to reserve for 1 token and spend for 2,000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
    await fx.tg.accounting!.writer.flush();
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
    await fx.tg.accounting!.writer.flush();
    const page = await fx.tg.store.usage.page({ userId: fx.userId, limit: 10 });
    assert.deepEqual(page.records.map((rec) => rec.completionTokens), [5, 5, 5, 5]);
  } finally {
    await fx.close();
    await upstream.close();
  }
});

test('an upstream past every bound is charged its reservation plus the overdraft; the real tokens are recorded and the excess counted', async () => {
  // Answers 5,000 completion tokens whatever the request says.
  const upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"long"},"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":5000}}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const fx = await startFixture({ TOLLGATE_METERING_OVERDRAFT_MICROS: '100' });
  try {
    const c = await fx.tg.store.channels.add({ name: 'greedy', type: 'openai', baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, models: [{ model: 'greedy', upstreamModel: 'greedy' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-greedy-0000');
    await fx.tg.store.prices.set({ model: 'greedy', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 1_000_000, free: false });
    const payer = await fx.newUser('payer', 10_000);
    await fx.tg.sync.pollNow();
    const r = await fetch(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${payer.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'greedy', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200);
    await r.text();
    await fx.tg.accounting!.writer.flush();
    const [record] = (await fx.tg.store.usage.page({ userId: payer.userId, limit: 1 })).records;
    assert.equal(record.completionTokens, 5000, 'the real tokens are recorded');
    assert.equal(record.costMicros, 10 + 100, 'charged the reservation (10 tokens) plus the overdraft');
    assert.equal((await fx.tg.store.users.byId(payer.userId))!.balanceMicros, 10_000 - 110);
    const metrics = await (await fetch(`${fx.url}/metrics`)).text();
    assert.match(metrics, /^tollgate_charge_capped_micros_total 4890$/m);
  } finally {
    await fx.close();
    await new Promise((r) => upstream.close(r));
  }
});
