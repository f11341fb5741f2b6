/**
 * The exact response cache through the HTTP hot path, one gateway (L1 only):
 * identical requests reach the upstream once, concurrent misses share one
 * upstream call, a streamed hit replays valid SSE, entries are per user, the
 * x-tollgate-cache header's modes, what is never stored, and the hit's record and price.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTwoChannels, type TwoChannels } from './support/two-channels.ts';
import { parseSse, checkChatOrder, checkAnthropicOrder } from './support/translate-fixtures.ts';
import type { Fixture } from './support/gateway-fixture.ts';
import type { UsageRecord } from '../src/store/store.ts';
import { runCli } from './support/serve-process.ts';

const PRICE = { inputMicrosPerMTok: 3_000_000, outputMicrosPerMTok: 15_000_000 };
let gateway: TwoChannels;
let fx: Fixture;

before(async () => {
  gateway = await startTwoChannels({
    chunks: 5,
    price: PRICE,
    credit: 1_000_000_000,
    env: { TOLLGATE_CACHE_ENABLED: 'true', TOLLGATE_CACHE_HIT_PRICE_PERMILLE: '250', TOLLGATE_CACHE_MODELS: 'claude-x', TOLLGATE_CACHE_ACCOUNT_TTL_MS: '60000' },
  });
  fx = gateway.fx;
});
after(() => gateway.close());

function post(path: string, body: object, opts: { key?: string; cache?: string; requestId?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? fx.key}`, 'content-type': 'application/json' };
  if (opts.cache !== undefined) headers['x-tollgate-cache'] = opts.cache;
  if (opts.requestId !== undefined) headers['x-request-id'] = opts.requestId;
  return fetch(`${fx.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
}

const chatBody = (content: string, extra: object = {}) => ({ model: 'gpt-x', max_tokens: 12, messages: [{ role: 'user' as const, content }], ...extra });

async function recordOf(requestId: string): Promise<UsageRecord> {
  await fx.tg.accounting!.writer.flush();
  const record = (await fx.tg.store.usage.page({ userId: fx.userId, limit: 200 })).records.find((r) => r.requestId.startsWith(`${requestId}~`));
  assert.ok(record !== undefined, `a record for ${requestId}`);
  return record;
}

test('identical requests (keys in another order, another `user`) reach the upstream once', async () => {
  const before = gateway.oai.stats.requests;
  const first = await post('/v1/chat/completions', chatBody('identical?', { temperature: 0 }), { cache: 'use' });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-tollgate-cache-status'), 'miss');
  const firstBody = await first.text();
  const reordered = { temperature: 0, user: 'end-user-7', messages: [{ content: 'identical?', role: 'user' }], max_tokens: 12, model: 'gpt-x' };
  for (let i = 0; i < 3; i++) {
    const again = await post('/v1/chat/completions', reordered, { cache: 'use' });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('x-tollgate-cache-status'), 'hit');
    assert.equal(again.headers.get('content-type'), first.headers.get('content-type'));
    assert.equal(await again.text(), firstBody);
  }
  assert.equal(gateway.oai.stats.requests - before, 1);
});

test('20 concurrent identical misses make one upstream call; all get the same answer', async () => {
  gateway.oai.setFault({ kind: 'latency', ms: 150, count: 1 });
  const before = gateway.oai.stats.requests;
  const answers = await Promise.all(Array.from({ length: 20 }, () => post('/v1/chat/completions', chatBody('all at once'), { cache: 'use' })));
  const bodies = await Promise.all(answers.map((r) => r.text()));
  assert.equal(gateway.oai.stats.requests - before, 1);
  for (const r of answers) assert.equal(r.status, 200);
  assert.equal(new Set(bodies).size, 1);
  const statuses = answers.map((r) => r.headers.get('x-tollgate-cache-status')).sort();
  assert.deepEqual(statuses, ['hit', ...Array(18).fill('hit'), 'miss'].sort());
  gateway.oai.setFault(null);
});

test('a streamed hit replays valid SSE that the openai SDK reads like the original', async () => {
  const client = new OpenAI({ apiKey: fx.key, baseURL: `${fx.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-tollgate-cache': 'use' } });
  const before = gateway.oai.stats.requests;
  const read = async () => {
    const { data, response } = await client.chat.completions.create({ ...chatBody('stream me'), stream: true }).withResponse();
    let text = '';
    for await (const chunk of data) text += chunk.choices[0]?.delta?.content ?? '';
    return { text, status: response.headers.get('x-tollgate-cache-status') };
  };
  const miss = await read();
  const hit = await read();
  assert.equal(miss.status, 'miss');
  assert.equal(hit.status, 'hit');
  assert.ok(miss.text.length > 0);
  assert.equal(hit.text, miss.text);
  assert.equal(gateway.oai.stats.requests - before, 1);

  // The raw bytes: the chat stream's events in order, ending in [DONE]; a non-streamed request does not hit the stream's entry.
  const raw = await post('/v1/chat/completions', { ...chatBody('stream me'), stream: true }, { cache: 'use' });
  assert.equal(raw.headers.get('x-tollgate-cache-status'), 'hit');
  assert.match(raw.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await raw.text();
  assert.ok(text.trimEnd().endsWith('data: [DONE]'));
  checkChatOrder(parseSse(text), false);
  const plain = await post('/v1/chat/completions', chatBody('stream me'), { cache: 'use' });
  assert.equal(plain.headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await plain.json()).object, 'chat.completion');
});

test('a streamed Messages hit, translated to the OpenAI-type channel on the miss, replays in the Anthropic protocol', async () => {
  const body = { model: 'gpt-x', max_tokens: 12, stream: true, messages: [{ role: 'user', content: 'translated stream' }] };
  const miss = await post('/v1/messages', body, { cache: 'use' });
  const missText = await miss.text();
  const hit = await post('/v1/messages', body, { cache: 'use' });
  assert.equal(hit.headers.get('x-tollgate-cache-status'), 'hit');
  const hitText = await hit.text();
  assert.equal(hitText, missText);
  checkAnthropicOrder(parseSse(hitText));
});

test('entries are per user: the same request from another user is a miss', async () => {
  const bob = await fx.newUser('bob-cache', 1_000_000_000);
  const before = gateway.oai.stats.requests;
  assert.equal((await post('/v1/chat/completions', chatBody('whose?'), { cache: 'use' })).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await post('/v1/chat/completions', chatBody('whose?'), { cache: 'use', key: bob.key })).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await post('/v1/chat/completions', chatBody('whose?'), { cache: 'use', key: bob.key })).headers.get('x-tollgate-cache-status'), 'hit');
  assert.equal(gateway.oai.stats.requests - before, 2);
});

test('skip neither reads nor stores; refresh always calls the upstream and replaces the entry; no header: bypass', async () => {
  const before = gateway.oai.stats.requests;
  const skip = await post('/v1/chat/completions', chatBody('modes'), { cache: 'skip' });
  assert.equal(skip.headers.get('x-tollgate-cache-status'), 'bypass');
  assert.equal((await post('/v1/chat/completions', chatBody('modes'), { cache: 'use' })).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await post('/v1/chat/completions', chatBody('modes'), { cache: 'skip' })).headers.get('x-tollgate-cache-status'), 'bypass');
  assert.equal((await post('/v1/chat/completions', chatBody('modes'))).headers.get('x-tollgate-cache-status'), 'bypass');
  assert.equal((await post('/v1/chat/completions', chatBody('modes'), { cache: 'refresh' })).headers.get('x-tollgate-cache-status'), 'refresh');
  assert.equal((await post('/v1/chat/completions', chatBody('modes'), { cache: 'use' })).headers.get('x-tollgate-cache-status'), 'hit');
  assert.equal(gateway.oai.stats.requests - before, 5);

  const bad = await post('/v1/chat/completions', chatBody('modes'), { cache: 'always' });
  assert.equal(bad.status, 400);
  const error = (await bad.json()).error;
  assert.equal(error.code, 'invalid_cache_header');
  assert.equal(error.param, 'x-tollgate-cache');
});

test('a model in cache.models is cached without the header', async () => {
  const body = { model: 'claude-x', max_tokens: 12, messages: [{ role: 'user', content: 'by model' }] };
  const before = gateway.ant.stats.requests;
  assert.equal((await post('/v1/messages', body)).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await post('/v1/messages', body)).headers.get('x-tollgate-cache-status'), 'hit');
  assert.equal((await post('/v1/messages', body, { cache: 'skip' })).headers.get('x-tollgate-cache-status'), 'bypass');
  assert.equal(gateway.ant.stats.requests - before, 2);
});

test('a stream cut mid-way and an upstream error are never stored', async () => {
  const before = gateway.oai.stats.requests;
  gateway.oai.setFault({ kind: 'reset-mid-stream', afterChunks: 2, count: 1 });
  const cut = await post('/v1/chat/completions', { ...chatBody('cut me'), stream: true }, { cache: 'use' });
  assert.equal(cut.status, 200);
  await cut.text().catch(() => '');
  const after = await post('/v1/chat/completions', { ...chatBody('cut me'), stream: true }, { cache: 'use' });
  assert.equal(after.headers.get('x-tollgate-cache-status'), 'miss');
  await after.text();

  gateway.oai.setFault({ kind: 'status', status: 500, count: 1 });
  const failed = await post('/v1/chat/completions', chatBody('fail me'), { cache: 'use' });
  assert.equal(failed.status, 502);
  await failed.text();
  assert.equal((await post('/v1/chat/completions', chatBody('fail me'), { cache: 'use' })).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal(gateway.oai.stats.requests - before, 4);
});

test('a hit is recorded as cache_hit, without an upstream attempt, at the configured fraction of the original cost', async () => {
  await post('/v1/chat/completions', chatBody('priced'), { cache: 'use', requestId: 'cache-priced-miss' }).then((r) => r.text());
  const hit = await post('/v1/chat/completions', chatBody('priced'), { cache: 'use', requestId: 'cache-priced-hit' });
  assert.equal(hit.headers.get('x-tollgate-cache-status'), 'hit');
  await hit.text();
  const miss = await recordOf('cache-priced-miss');
  const record = await recordOf('cache-priced-hit');
  assert.equal(miss.outcome, 'ok');
  assert.ok(miss.costMicros > 0);
  assert.equal(record.outcome, 'cache_hit');
  assert.equal(record.status, 200);
  assert.equal(record.attempts, 0);
  assert.equal(record.channelId, null);
  assert.equal(record.promptTokens, miss.promptTokens);
  assert.equal(record.completionTokens, miss.completionTokens);
  assert.equal(record.costMicros, Math.ceil(miss.costMicros / 4));
});

test('account API usage reads are served from the account cache within its TTL', async () => {
  const headers = { authorization: `Bearer ${fx.key}` };
  const read = () => fetch(`${fx.url}/api/v1/usage?limit=3`, { headers }).then(async (r) => ({ status: r.status, body: await r.json() }));
  const first = await read();
  assert.equal(first.status, 200);
  await post('/v1/chat/completions', chatBody('after the read')).then((r) => r.text());
  await fx.tg.accounting!.writer.flush();
  const second = await read();
  assert.deepEqual(second.body, first.body, 'the same page, from the cache');
  const metrics = await (await fetch(`${fx.url}/metrics`)).text();
  assert.match(metrics, /tollgate_cache_level_lookups_total\{cache="account",level="l1",result="hit"\} [1-9]/);
  assert.match(metrics, /tollgate_cache_level_lookups_total\{cache="response",level="l1",result="hit"\} [1-9]/);
  assert.match(metrics, /tollgate_cache_bytes\{cache="response"\} [1-9]/);
  assert.match(metrics, /tollgate_cache_entries\{cache="response"\} [1-9]/);
});

test('a key created with --cache uses the cache without the header; --no-cache turns it off', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_DATA_DIR: fx.dataDir, TOLLGATE_LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'TOLLGATE_URL', 'TOLLGATE_CONFIG']) delete env[k];
  const created = runCli(env, 'key', 'create', '--user', 'alice', '--name', 'cached', '--cache', '--json');
  assert.equal(created.code, 0, created.stderr);
  const key = JSON.parse(created.stdout);
  assert.equal(key.cache, true);
  const before = gateway.oai.stats.requests;
  assert.equal((await post('/v1/chat/completions', chatBody('by key'), { key: key.key })).headers.get('x-tollgate-cache-status'), 'miss');
  assert.equal((await post('/v1/chat/completions', chatBody('by key'), { key: key.key })).headers.get('x-tollgate-cache-status'), 'hit');
  assert.equal((await post('/v1/chat/completions', chatBody('by key'), { key: key.key, cache: 'skip' })).headers.get('x-tollgate-cache-status'), 'bypass');
  assert.equal(gateway.oai.stats.requests - before, 2);

  const updated = runCli(env, 'key', 'update', '--key', String(key.id), '--no-cache', '--json');
  assert.equal(updated.code, 0, updated.stderr);
  assert.equal(JSON.parse(updated.stdout).cache, false);
  await fx.tg.sync.pollNow();
  assert.equal((await post('/v1/chat/completions', chatBody('by key'), { key: key.key })).headers.get('x-tollgate-cache-status'), 'bypass');
});

test('completions, embeddings and Responses answers are cached too, each under its own endpoint', async () => {
  const calls: Array<[string, object]> = [
    ['/v1/completions', { model: 'gpt-x', prompt: 'Once upon a time', max_tokens: 8 }],
    ['/v1/embeddings', { model: 'gpt-x', input: 'Once upon a time' }],
    ['/v1/responses', { model: 'gpt-x', input: 'Once upon a time', max_output_tokens: 8 }],
    ['/v1/responses', { model: 'gpt-x', input: 'Once upon a time', max_output_tokens: 8, stream: true }],
  ];
  const before = gateway.oai.stats.requests;
  for (const [path, body] of calls) {
    const miss = await post(path, body, { cache: 'use' });
    assert.equal(miss.status, 200, path);
    assert.equal(miss.headers.get('x-tollgate-cache-status'), 'miss', path);
    const missText = await miss.text();
    const hit = await post(path, body, { cache: 'use' });
    assert.equal(hit.headers.get('x-tollgate-cache-status'), 'hit', path);
    assert.equal(await hit.text(), missText, path);
  }
  assert.equal(gateway.oai.stats.requests - before, calls.length);
});
