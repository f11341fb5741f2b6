/**
 * Cached, cache-write and reasoning tokens: read from each provider's usage shape
 * (OpenAI counts cached tokens inside prompt_tokens, Anthropic outside
 * input_tokens), priced per kind, and billed the same for the same answer whether
 * it was streamed or not and whichever protocol the client spoke.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { usageFromBody, usageFromObject } from '../src/providers/token-usage.ts';
import { costMicros, type Price } from '../src/metering/pricing.ts';
import type { Fixture } from './support/gateway-fixture.ts';
import { CLIENT_PROTOCOLS, sendAndRecord, startTwoChannels, type TwoChannels } from './support/two-channels.ts';
import { admin } from './admin-api-support.ts';

const kinds = (u: ReturnType<typeof usageFromObject>) => u && { prompt: u.promptTokens, completion: u.completionTokens, cached: u.cachedTokens, write: u.cacheWriteTokens, reasoning: u.reasoningTokens };

test('provider usage shapes → one normalised usage (fixtures shaped like the providers\' documented responses)', () => {
  // OpenAI chat: cached inside prompt_tokens, reasoning inside completion_tokens.
  assert.deepEqual(kinds(usageFromObject({
    prompt_tokens: 2006, completion_tokens: 300, total_tokens: 2306,
    prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 192, audio_tokens: 0 },
  })), { prompt: 2006, completion: 300, cached: 1920, write: 0, reasoning: 192 });
  // OpenAI Responses.
  assert.deepEqual(kinds(usageFromObject({
    input_tokens: 2006, input_tokens_details: { cached_tokens: 1920 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 192 }, total_tokens: 2306,
  })), { prompt: 2006, completion: 300, cached: 1920, write: 0, reasoning: 192 });
  // Anthropic: cache reads and writes are OUTSIDE input_tokens.
  assert.deepEqual(kinds(usageFromObject({ input_tokens: 6, cache_creation_input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 50 })),
    { prompt: 3006, completion: 50, cached: 2000, write: 1000, reasoning: 0 });
  // Anthropic message_delta: output only; the stream scanner keeps message_start's input.
  assert.deepEqual(kinds(usageFromObject({ output_tokens: 50 })), { prompt: 0, completion: 50, cached: 0, write: 0, reasoning: 0 });
  // A proxy's chat usage with Anthropic's cache-write count at the top level (inside prompt_tokens there).
  assert.deepEqual(kinds(usageFromObject({ prompt_tokens: 1100, completion_tokens: 5, cache_creation_input_tokens: 1000 })), { prompt: 1100, completion: 5, cached: 0, write: 1000, reasoning: 0 });
  // Parts never exceed their whole; garbage kinds count as 0 without spoiling the usage.
  assert.deepEqual(kinds(usageFromObject({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 50 }, completion_tokens_details: { reasoning_tokens: 'x' } })),
    { prompt: 10, completion: 5, cached: 10, write: 0, reasoning: 0 });
  // In a body: the Anthropic message's usage object.
  const body = Buffer.from(JSON.stringify({ id: 'msg_1', type: 'message', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3, cache_read_input_tokens: 7, output_tokens: 2 } }));
  assert.deepEqual(kinds(usageFromBody(body)), { prompt: 10, completion: 2, cached: 7, write: 0, reasoning: 0 });
});

test('price per kind: cached and cache-write input, reasoning output; unset kinds cost the input / output price', () => {
  const price: Price = { model: 'm', channelId: null, inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, cachedInputMicrosPerMTok: 300_000, cacheWriteMicrosPerMTok: 3_750_000, reasoningMicrosPerMTok: 20_000_000, free: false };
  // 1000 prompt (600 cached, 100 written, 300 plain), 500 completion (200 reasoning, 300 visible).
  const expected = Math.ceil((300 * 3_000_000 + 600 * 300_000 + 100 * 3_750_000 + 300 * 15_000_000 + 200 * 20_000_000) / 1_000_000);
  assert.equal(costMicros(price, 1000, 500, 600, 100, 200), expected);
  const plain: Price = { ...price, cachedInputMicrosPerMTok: 3_000_000, cacheWriteMicrosPerMTok: 3_000_000, reasoningMicrosPerMTok: 15_000_000 };
  assert.equal(costMicros(plain, 1000, 500, 600, 100, 200), costMicros(plain, 1000, 500), 'kinds at the plain prices cost the same as no kinds');
  assert.equal(costMicros(price, 10, 5, 50, 50, 50), costMicros(price, 10, 5, 10, 0, 5), 'parts are clamped to their whole');
});

let gateway: TwoChannels;
let fx: Fixture;
const PRICE = { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000, cachedInputMicrosPerMTok: 300_000, cacheWriteMicrosPerMTok: 3_750_000, reasoningMicrosPerMTok: 20_000_000 };

before(async () => {
  // A generous overdraft: the mock adds reasoning tokens on top of max_tokens, past the reservation.
  gateway = await startTwoChannels({ env: { TOLLGATE_METERING_OVERDRAFT_MICROS: '1000000000' }, price: PRICE, credit: 1_000_000_000 });
  fx = gateway.fx;
  for (const m of [gateway.oai, gateway.ant]) m.setUsage({ cached: 5, cacheWrite: 3, reasoning: 4 });
});
after(() => gateway.close());

const upstream = (model: string) => (model === 'gpt-x' ? gateway.oai : gateway.ant);

for (const [model, reasoning] of [['gpt-x', 4], ['claude-x', 0]] as const) {
  test(`${model}: each kind recorded and priced, the same for chat, Responses and Messages, streamed and not${reasoning === 0 ? ' (Anthropic reports no reasoning count)' : ''}`, async () => {
    const rows = [];
    for (const client of CLIENT_PROTOCOLS) {
      for (const stream of [false, true]) {
        const id = `kinds-${model}-${client}-${stream}`;
        const rec = await sendAndRecord(fx, id, client, model, stream, 10);
        rows.push({ id, prompt: rec.promptTokens, completion: rec.completionTokens, cached: rec.cachedTokens, write: rec.cacheWriteTokens, reasoning: rec.reasoningTokens, cost: rec.costMicros });
      }
    }
    const first = rows[0];
    assert.equal(first.cached, 5);
    assert.equal(first.write, 3);
    assert.equal(first.reasoning, reasoning);
    const expected = Math.ceil(((first.prompt - 8) * PRICE.inputMicrosPerMTok + 5 * PRICE.cachedInputMicrosPerMTok + 3 * PRICE.cacheWriteMicrosPerMTok +
      (first.completion - reasoning) * PRICE.outputMicrosPerMTok + reasoning * PRICE.reasoningMicrosPerMTok) / 1_000_000);
    assert.equal(first.cost, expected);
    for (const row of rows) assert.deepEqual({ ...row, id: first.id }, first, `${row.id} is billed like ${first.id}`);

    // The cached and cache-written tokens are parts of the same prompt: without them the prompt
    // counts the same (an Anthropic cache count dropped or added twice would show here), streamed or not.
    // The mock's 4 reasoning tokens were on top of the visible output (inside Anthropic's output_tokens too).
    upstream(model).setUsage(null);
    try {
      for (const [client, stream] of [['messages', true], ['chat', false]] as const) {
        const id = `plain-${model}-${client}-${stream}`;
        const rec = await sendAndRecord(fx, id, client, model, stream, 10);
        assert.deepEqual([rec.promptTokens, rec.completionTokens, rec.cachedTokens, rec.cacheWriteTokens, rec.reasoningTokens], [first.prompt, first.completion - 4, 0, 0, 0], id);
      }
    } finally {
      upstream(model).setUsage({ cached: 5, cacheWrite: 3, reasoning: 4 });
    }

    // The running totals (all time: usage_totals) and the stats per model sum the kinds of the 6 + 2 records.
    const stats = await admin(fx, 'GET', `/admin/usage/stats?group_by=model&model=${model}`);
    assert.equal(stats.status, 200);
    const { requests, cached_tokens, cache_write_tokens, reasoning_tokens } = stats.body.totals;
    assert.deepEqual({ requests, cached_tokens, cache_write_tokens, reasoning_tokens }, { requests: 8, cached_tokens: 30, cache_write_tokens: 18, reasoning_tokens: 6 * reasoning });
    assert.deepEqual(stats.body.data[0], { ...stats.body.totals, key: model, errors: 0, avg_latency_ms: stats.body.data[0].avg_latency_ms });
  });
}

test('the account API totals the kinds of the caller\'s records', async () => {
  const r = await fetch(`${fx.url}/api/v1/usage?limit=1`, { headers: { authorization: `Bearer ${fx.key}` } });
  assert.equal(r.status, 200);
  const { requests, cached_tokens, cache_write_tokens, reasoning_tokens } = (await r.json()).totals;
  // Both models' tests: 6 records with the kinds and 2 without each; reasoning on gpt-x only.
  assert.deepEqual({ requests, cached_tokens, cache_write_tokens, reasoning_tokens }, { requests: 16, cached_tokens: 60, cache_write_tokens: 36, reasoning_tokens: 24 });
});
