/**
 * Billing is the same whichever way an answer travelled: the same conversation
 * sent as chat, Responses and Messages, streamed and not, to an OpenAI-type
 * channel and to an Anthropic channel (each serving some of the six natively
 * and the rest translated) is metered from the upstream's own usage, so every
 * record of one channel carries the same tokens and the same cost. (The mock
 * counts a few more prompt tokens than the gateway estimates for some of the
 * protocols: the reservation's prompt margin keeps those charged in full.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Fixture } from './support/gateway-fixture.ts';
import { startTwoChannels, type TwoChannels } from './support/two-channels.ts';

let gateway: TwoChannels;
let fx: Fixture;

before(async () => {
  gateway = await startTwoChannels({ chunks: 5, price: { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000 }, credit: 1_000_000_000 });
  fx = gateway.fx;
});
after(() => gateway.close());

const SYSTEM = 'Answer briefly.';
const USER = 'What is the capital of Norway?';
const MAX = 12;

/** The same conversation in each client protocol. */
function call(client: 'chat' | 'responses' | 'messages', model: string, stream: boolean): { path: string; body: object } {
  if (client === 'chat') {
    return { path: '/v1/chat/completions', body: { model, stream, max_tokens: MAX, messages: [{ role: 'system', content: SYSTEM }, { role: 'user', content: USER }] } };
  }
  if (client === 'responses') return { path: '/v1/responses', body: { model, stream, max_output_tokens: MAX, instructions: SYSTEM, input: USER } };
  return { path: '/v1/messages', body: { model, stream, max_tokens: MAX, system: SYSTEM, messages: [{ role: 'user', content: USER }] } };
}

for (const model of ['gpt-x', 'claude-x']) {
  test(`${model}: chat, Responses and Messages, streamed and not, cost the same`, async () => {
    const ids: string[] = [];
    for (const client of ['chat', 'responses', 'messages'] as const) {
      for (const stream of [false, true]) {
        const { path, body } = call(client, model, stream);
        const id = `cost-${model}-${client}-${stream}`;
        const r = await fetch(`${fx.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json', 'x-request-id': id }, body: JSON.stringify(body) });
        assert.equal(r.status, 200, `${client} stream=${stream}: ${r.status}`);
        await r.text();
        ids.push(id);
      }
    }
    await fx.tg.gateway.writer.flush();
    const page = await fx.tg.store.usage.page({ userId: fx.userId, model, limit: 50 });
    const rows = ids.map((id) => {
      const rec = page.records.find((r) => r.requestId.startsWith(`${id}~`));
      assert.ok(rec !== undefined, `a record for ${id}`);
      return { id, outcome: rec.outcome, prompt: rec.promptTokens, completion: rec.completionTokens, cost: rec.costMicros };
    });
    const first = rows[0];
    assert.equal(first.outcome, 'ok');
    assert.equal(first.completion, MAX);
    assert.ok(first.prompt > 0 && first.cost > 0);
    for (const row of rows) assert.deepEqual({ ...row, id: first.id }, first, `${row.id} is billed like ${first.id}`);
  });
}
