/**
 * The two-level cache on its own (L1 only, and L1 + a real Redis under a key
 * prefix unique to the run): the byte bound, single flight, the request key
 * and the stored-answer codec.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { TwoLevelCache, type EntryCodec } from '../src/cache/two-level-cache.ts';
import { RedisTier } from '../src/cache/redis-tier.ts';
import { requestKey, canonicalBody } from '../src/cache/request-key.ts';
import { cachedAnswerCodec, isRefusedAnswer, type CachedAnswer } from '../src/cache/cached-answer.ts';

const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `tollgate-test-cache-${process.pid}-${Date.now()}:`;
const tiers: RedisTier[] = [];
after(async () => {
  for (const t of tiers) t.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const bytesCodec: EntryCodec<Buffer> = {
  encode: (value, expiresAt) => Buffer.concat([Buffer.from(`${expiresAt}\n`), value]),
  decode(bytes) {
    const nl = bytes.indexOf(10);
    return { expiresAt: Number(bytes.subarray(0, nl).toString()), value: bytes.subarray(nl + 1) };
  },
  sizeOf: (value) => value.length,
};

const l1Only = (maxBytes: number) => new TwoLevelCache<Buffer>({ name: 't', maxBytes, ttlMs: 60_000, codec: bytesCodec, l2: null, observer: null });

test('L1 holds at most its byte bound, evicting the least recently used', async () => {
  const cache = l1Only(10_000);
  for (let i = 0; i < 5; i++) await cache.store(`k${i}`, Buffer.alloc(3_000), null);
  assert.ok(cache.bytes <= 10_000, `holds ${cache.bytes} bytes`);
  assert.equal(cache.entries, 3);
  assert.equal(cache.holds('k0'), false);
  assert.equal(cache.holds('k1'), false);
  assert.equal(cache.holds('k4'), true);
  // Reading k2 makes k3 the least recently used: the next entry evicts k3, not k2.
  assert.ok((await cache.lookup('k2')).value !== null);
  await cache.store('k5', Buffer.alloc(3_000), null);
  assert.equal(cache.holds('k2'), true);
  assert.equal(cache.holds('k3'), false);
  // An entry larger than the whole bound is not held.
  await cache.store('huge', Buffer.alloc(20_000), null);
  assert.equal(cache.holds('huge'), false);
  assert.ok(cache.bytes <= 10_000);
});

test('getOrLoad: 20 concurrent misses of one key load it once; a failed load is not cached', async () => {
  const cache = l1Only(1_000_000);
  let loads = 0;
  const load = async () => {
    loads++;
    await new Promise((r) => setTimeout(r, 20));
    return Buffer.from('value');
  };
  const values = await Promise.all(Array.from({ length: 20 }, () => cache.getOrLoad('k', load)));
  assert.equal(loads, 1);
  for (const v of values) assert.equal(v?.toString(), 'value');

  let nullLoads = 0;
  const none = async () => {
    nullLoads++;
    return null;
  };
  assert.equal(await cache.getOrLoad('absent', none), null);
  assert.equal(await cache.getOrLoad('absent', none), null);
  assert.equal(nullLoads, 2);
});

test('lookup: the leader of a miss settles its flight; waiters get its value, or a miss of their own when it had none', async () => {
  const cache = l1Only(1_000_000);
  const first = await cache.lookup('k');
  assert.equal(first.value, null);
  assert.ok(first.flight !== null);
  const waiting = cache.lookup('k');
  first.flight.settle(null);
  const second = await waiting;
  assert.deepEqual(second, { value: null, flight: null });
  // The next miss leads a new flight.
  const third = await cache.lookup('k');
  assert.ok(third.flight !== null);
  const waiter = cache.lookup('k');
  await cache.store('k', Buffer.from('v'), third.flight);
  assert.equal((await waiter).value?.toString(), 'v');
});

test('L2: an entry stored by one node is read by another; an invalidation drops it everywhere', async () => {
  const tier = (onError = () => undefined) => {
    const t = new RedisTier({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 500, onError });
    tiers.push(t);
    return t;
  };
  const [ta, tb] = [tier(), tier()];
  await Promise.all([ta.start(2_000), tb.start(2_000)]);
  const a = new TwoLevelCache<Buffer>({ name: 'x', maxBytes: 1_000_000, ttlMs: 60_000, codec: bytesCodec, l2: ta, observer: null });
  const levels: string[] = [];
  const b = new TwoLevelCache<Buffer>({ name: 'x', maxBytes: 1_000_000, ttlMs: 60_000, codec: bytesCodec, l2: tb, observer: { lookup: (level, hit) => levels.push(`${level}:${hit ? 'hit' : 'miss'}`) } });
  await a.store('k', Buffer.from('shared'), null);
  assert.equal((await b.lookup('k')).value?.toString(), 'shared');
  assert.deepEqual(levels, ['l1:miss', 'l2:hit']);
  assert.equal(b.holds('k'), true);

  await a.invalidate('k');
  for (let i = 0; i < 200 && b.holds('k'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(b.holds('k'), false, 'the other node dropped its copy');
  const after = await b.lookup('k');
  assert.equal(after.value, null);
  after.flight?.settle(null);
});

test('request key: key order and the excluded fields do not change it; scope, endpoint and content do', () => {
  const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: 0 };
  const same = { temperature: 0, user: 'someone', metadata: { tag: 'x' }, messages: [{ content: 'hi', role: 'user' }], model: 'm' };
  assert.equal(canonicalBody(same), canonicalBody(body));
  assert.equal(requestKey('/chat/completions', 'u1', same), requestKey('/chat/completions', 'u1', body));
  assert.notEqual(requestKey('/chat/completions', 'u2', body), requestKey('/chat/completions', 'u1', body));
  assert.notEqual(requestKey('/completions', 'u1', body), requestKey('/chat/completions', 'u1', body));
  assert.notEqual(requestKey('/chat/completions', 'u1', { ...body, stream: true }), requestKey('/chat/completions', 'u1', body));
  assert.notEqual(requestKey('/chat/completions', 'u1', { ...body, messages: [{ role: 'user', content: 'hi!' }] }), requestKey('/chat/completions', 'u1', body));
});

test('a stored answer survives its Redis encoding; foreign bytes decode to nothing', () => {
  const answer: CachedAnswer = {
    status: 200, contentType: 'text/event-stream', stream: true, body: Buffer.from('data: {"x":"é\\n"}\n\ndata: [DONE]\n\n'),
    promptTokens: 3, completionTokens: 5, cachedTokens: 1, cacheWriteTokens: 0, reasoningTokens: 2, channelId: 7,
  };
  const decoded = cachedAnswerCodec.decode(cachedAnswerCodec.encode(answer, 1234));
  assert.ok(decoded !== null);
  assert.equal(decoded.expiresAt, 1234);
  assert.deepEqual({ ...decoded.value, body: decoded.value.body.toString() }, { ...answer, body: answer.body.toString() });
  assert.equal(cachedAnswerCodec.decode(Buffer.from('not an entry')), null);
  assert.equal(cachedAnswerCodec.decode(Buffer.from('{"v":99}\nxyz')), null);
});

test('refused or filtered answers are recognised in each protocol; the words in generated text are not', () => {
  const refusedAnswers = [
    '{"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I cannot help with that."},"finish_reason":"stop"}]}',
    'data: {"choices":[{"index":0,"delta":{},"finish_reason":"content_filter"}]}\n\ndata: [DONE]\n\n',
    '{"type":"message","content":[],"stop_reason":"refusal"}',
    '{"object":"response","status":"incomplete","incomplete_details":{"reason":"content_filter"}}',
  ];
  for (const body of refusedAnswers) assert.equal(isRefusedAnswer(Buffer.from(body)), true, body);
  const fine = [
    '{"choices":[{"index":0,"message":{"role":"assistant","content":"ok","refusal":null},"finish_reason":"stop"}]}',
    JSON.stringify({ choices: [{ message: { content: 'the value "content_filter" and "refusal": "x" are words here' }, finish_reason: 'stop' }] }),
  ];
  for (const body of fine) assert.equal(isRefusedAnswer(Buffer.from(body)), false, body);
});
