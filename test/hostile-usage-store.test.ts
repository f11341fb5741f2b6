/**
 * Usage counts an upstream should not send (3e9 tokens, numeric strings,
 * fractions, negatives, nulls) on both stores: each record is stored, no
 * count is billed as 0 for text the client got, and the store's balance, the
 * live ledger's and the sum of the recorded costs agree to the micro-credit.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { startFixture } from './support/gateway-fixture.ts';

const PG_URL = process.env.TOLLGATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TEXT = 'one two three four five six seven eight';
const body = (usage: string) => `{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "${TEXT}"}, "finish_reason": "stop"}], "usage": ${usage}}`;
const json = (res: ServerResponse, text: string) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(text);
};

/** Model name → the upstream's answer. */
const VARIANTS: Record<string, (res: ServerResponse) => void> = {
  'huge': (res) => json(res, body('{"prompt_tokens": 3000000000, "completion_tokens": 3000000000}')),
  'strings': (res) => json(res, body('{"prompt_tokens": "4", "completion_tokens": "12"}')),
  'fraction': (res) => json(res, body('{"prompt_tokens": 4, "completion_tokens": 1.5}')),
  'negative': (res) => json(res, body('{"prompt_tokens": 4, "completion_tokens": -3}')),
  'null': (res) => json(res, body('{"prompt_tokens": 4, "completion_tokens": null}')),
  'all-null': (res) => json(res, body('{"prompt_tokens": null, "completion_tokens": null}')),
  'stream-null': (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`data: {"id": "x", "choices": [{"index": 0, "delta": {"content": "${TEXT}"}}]}\n\n`);
    res.write('data: {"id": "x", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": null}}\n\n');
    res.end('data: [DONE]\n\n');
  },
};

let upstream: Server;
before(async () => {
  upstream = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => VARIANTS[JSON.parse(text).model](res));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});
after(() => new Promise((r) => upstream.close(r)));

const stores: Array<{ name: string; env: () => Record<string, string>; cleanup: (env: Record<string, string>) => Promise<void> }> = [
  { name: 'sqlite', env: () => ({}), cleanup: async () => {} },
  {
    name: 'postgres',
    env: () => ({ DATABASE_URL: PG_URL, TOLLGATE_POSTGRES_SCHEMA: `tg_usage_${process.pid}_${Date.now()}` }),
    cleanup: async (env) => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop schema if exists "${env.TOLLGATE_POSTGRES_SCHEMA}" cascade`);
      await c.end();
    },
  },
];

for (const s of stores) {
  test(`${s.name}: bad usage counts are stored and billed sanely; store balance = ledger balance = initial − Σ recorded costs`, async () => {
    const env = s.env();
    const fx = await startFixture(env);
    try {
      const channel = await fx.tg.store.channels.add({
        name: 'bad-usage', type: 'openai', baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`,
        models: Object.keys(VARIANTS).map((model) => ({ model, upstreamModel: model })),
      });
      await fx.tg.store.channels.addKey(channel.id, 'sk-bad-usage-0000');
      // 1 micro-credit per token either way; the overdraft lets a big count be charged in full.
      for (const model of Object.keys(VARIANTS)) await fx.tg.store.prices.set({ model, channelId: null, inputMicrosPerMTok: 1_000_000, outputMicrosPerMTok: 1_000_000, free: false });
      const initial = 1_000_000;
      const payer = await fx.newUser('payer', initial);
      await fx.tg.sync.pollNow();

      const records: Record<string, any> = {};
      for (const model of Object.keys(VARIANTS)) {
        const r = await fetch(`${fx.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${payer.key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, stream: model.startsWith('stream'), max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }),
        });
        assert.equal(r.status, 200, model);
        await r.text();
        await fx.tg.accounting!.writer.flush();
        records[model] = (await fx.tg.store.usage.page({ userId: payer.userId, model, limit: 1 })).records[0];
        assert.ok(records[model] !== undefined, `${model}: a record is stored`);
      }

      for (const model of ['huge', 'negative']) {
        assert.equal(records[model].errorClass, 'usage_invalid', model);
        assert.ok(records[model].completionTokens >= 8 && records[model].completionTokens < 100, `${model}: the gateway's count, ${records[model].completionTokens}`);
      }
      assert.equal(records.strings.promptTokens, 4);
      assert.equal(records.strings.completionTokens, 12);
      assert.equal(records.fraction.completionTokens, 2);
      // Null counts are not reported ones: the gateway counts the prompt and the answer's text.
      assert.equal(records.null.promptTokens, 4);
      assert.ok(records.null.completionTokens >= 8, `null completion: ${records.null.completionTokens}`);
      assert.ok(records['all-null'].promptTokens > 0, `null prompt: ${records['all-null'].promptTokens}`);
      assert.ok(records['all-null'].completionTokens >= 8, `null completion: ${records['all-null'].completionTokens}`);
      assert.equal(records['stream-null'].promptTokens, 7);
      assert.ok(records['stream-null'].completionTokens >= 8, `streamed null completion: ${records['stream-null'].completionTokens}`);

      const stored = (await fx.tg.store.users.byId(payer.userId))!.balanceMicros;
      const live = fx.tg.accounting!.ledger.snapshot(payer.userId)!.balanceMicros;
      const spent = Object.values(records).reduce((sum, rec) => sum + rec.costMicros, 0);
      assert.equal(live, stored, 'the live ledger and the store agree');
      assert.equal(stored, initial - spent, 'the balance is the initial one minus the recorded costs');
      assert.ok(spent > 0);
    } finally {
      await fx.close();
      await s.cleanup(env);
    }
  });
}
