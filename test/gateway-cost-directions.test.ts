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
import { CLIENT_PROTOCOLS, sendAndRecord, startTwoChannels, type TwoChannels } from './support/two-channels.ts';

let gateway: TwoChannels;
let fx: Fixture;

before(async () => {
  gateway = await startTwoChannels({ chunks: 5, price: { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000 }, credit: 1_000_000_000 });
  fx = gateway.fx;
});
after(() => gateway.close());

const MAX = 12;

for (const model of ['gpt-x', 'claude-x']) {
  test(`${model}: chat, Responses and Messages, streamed and not, cost the same`, async () => {
    const rows = [];
    for (const client of CLIENT_PROTOCOLS) {
      for (const stream of [false, true]) {
        const id = `cost-${model}-${client}-${stream}`;
        const rec = await sendAndRecord(fx, id, client, model, stream, MAX);
        rows.push({ id, outcome: rec.outcome, prompt: rec.promptTokens, completion: rec.completionTokens, cost: rec.costMicros });
      }
    }
    const first = rows[0];
    assert.equal(first.outcome, 'ok');
    assert.equal(first.completion, MAX);
    assert.ok(first.prompt > 0 && first.cost > 0);
    for (const row of rows) assert.deepEqual({ ...row, id: first.id }, first, `${row.id} is billed like ${first.id}`);
  });
}
