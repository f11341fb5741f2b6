/**
 * Money: a request may not cost more than it reserved plus the overdraft.
 * `{"max_tokens":1,"max_completion_tokens":2000}` against an upstream that
 * honours max_completion_tokens (the mock does, like several OpenAI-compatible
 * servers) used to reserve for 1 token and spend for 2,000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
