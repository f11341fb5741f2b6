/**
 * SSRF guard: which channel base URLs and dialled addresses are allowed, the
 * connect-time check on DNS answers (with a fake resolver: no network here),
 * and a refused connect failing over like a connect error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { Agent, request } from 'undici';
import { checkUpstreamAddress, checkUpstreamUrl, type AddressRefusal } from '../src/routing/upstream-address-policy.ts';
import { guardedLookup, upstreamConnector, type Resolver } from '../src/routing/upstream-connector.ts';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';
import { startFixture } from './support/gateway-fixture.ts';
import { admin, assertError } from './admin-api-support.ts';

const OPEN = { allowPrivateNetworks: true };
const CLOSED = { allowPrivateNetworks: false };

/** url, verdict with private networks allowed (default), verdict with them refused. */
const TABLE: ReadonlyArray<readonly [string, AddressRefusal | 'ok', AddressRefusal | 'ok']> = [
  ['https://api.openai.com/v1', 'ok', 'ok'],
  ['http://8.8.8.8:8080/v1', 'ok', 'ok'],
  ['http://[2001:4860:4860::8888]/v1', 'ok', 'ok'],
  ['http://127.0.0.1:11434/v1', 'ok', 'private'],
  ['http://127.1/', 'ok', 'private'],
  ['http://localhost:8000/v1', 'ok', 'private'],
  ['http://10.1.2.3/', 'ok', 'private'],
  ['http://172.20.0.5/', 'ok', 'private'],
  ['http://192.168.1.10/', 'ok', 'private'],
  ['http://100.64.0.1/', 'ok', 'private'],
  ['http://[::1]:8000/', 'ok', 'private'],
  ['http://[fd12:3456::1]/', 'ok', 'private'],
  ['http://[::ffff:127.0.0.1]/', 'ok', 'private'],
  ['http://169.254.169.254/latest/meta-data/', 'metadata', 'metadata'],
  ['http://2852039166/', 'metadata', 'metadata'], // decimal 169.254.169.254
  ['http://0251.0376.0251.0376/', 'metadata', 'metadata'], // octal
  ['http://0xa9fea9fe/', 'metadata', 'metadata'], // hex
  ['http://[::ffff:169.254.169.254]/', 'metadata', 'metadata'],
  ['http://[64:ff9b::a9fe:a9fe]/', 'metadata', 'metadata'], // NAT64
  ['http://metadata.google.internal/computeMetadata/v1/', 'metadata', 'metadata'],
  ['http://METADATA.google.internal./', 'metadata', 'metadata'],
  ['http://[fd00:ec2::254]/', 'metadata', 'metadata'],
  ['http://100.100.100.200/', 'metadata', 'metadata'],
  ['http://169.254.10.1/', 'link_local', 'link_local'],
  ['http://[fe80::1]/', 'link_local', 'link_local'],
  ['http://0.0.0.0:8080/', 'unspecified', 'unspecified'],
  ['http://0/', 'unspecified', 'unspecified'],
  ['http://[::]/', 'unspecified', 'unspecified'],
  ['http://[::a9fe:a9fe]/', 'unspecified', 'unspecified'], // IPv4-compatible (deprecated)
  ['file:///etc/passwd', 'scheme', 'scheme'],
  ['gopher://127.0.0.1:6379/_INFO', 'scheme', 'scheme'],
  ['ftp://example.com/', 'scheme', 'scheme'],
  ['not a url', 'invalid_url', 'invalid_url'],
];

for (const [url, open, closed] of TABLE) {
  test(`base URL ${url}: ${open} / with private networks refused: ${closed}`, () => {
    for (const [policy, expected] of [[OPEN, open], [CLOSED, closed]] as const) {
      const verdict = checkUpstreamUrl(url, policy);
      assert.equal(verdict.ok ? 'ok' : verdict.reason, expected, JSON.stringify(verdict));
      if (!verdict.ok) assert.ok(verdict.message.length > 0);
    }
  });
}

/** A resolver that answers from a table, as dns.lookup with { all: true } would. */
function fakeResolver(answers: Record<string, string[]>): Resolver {
  return (hostname, _options, callback) => {
    const list = answers[hostname];
    if (list === undefined) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
    callback(null, list.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
}

function lookupOnce(lookup: ReturnType<typeof guardedLookup>, host: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; result: unknown }> {
  return new Promise((resolve) => lookup(host, { all } as never, (err: NodeJS.ErrnoException | null, address: unknown) => resolve({ err, result: address })));
}

test('connect-time lookup refuses a name whose DNS answer is refused (rebinding), passes public answers', async () => {
  const resolver = fakeResolver({
    'api.example.com': ['93.184.216.34'],
    'rebind.example.com': ['169.254.169.254'],
    'mixed.example.com': ['93.184.216.34', '::ffff:169.254.169.254'],
    'local.example.com': ['127.0.0.1'],
  });
  const open = guardedLookup(OPEN, resolver);
  const closed = guardedLookup(CLOSED, resolver);
  assert.deepEqual(await lookupOnce(open, 'api.example.com', false), { err: null, result: '93.184.216.34' });
  assert.deepEqual((await lookupOnce(open, 'api.example.com', true)).result, [{ address: '93.184.216.34', family: 4 }]);
  for (const host of ['rebind.example.com', 'mixed.example.com']) {
    const { err } = await lookupOnce(open, host, true);
    assert.equal(err?.code, 'UPSTREAM_ADDRESS_REFUSED', host);
    assert.match(err!.message, /metadata/);
  }
  assert.equal((await lookupOnce(open, 'local.example.com', false)).err, null, 'loopback allowed by default');
  assert.equal((await lookupOnce(closed, 'local.example.com', false)).err?.code, 'UPSTREAM_ADDRESS_REFUSED');
  assert.equal((await lookupOnce(open, 'nowhere.example.com', false)).err?.code, 'ENOTFOUND');
});

test('the connector refuses a host name resolving to a refused address before connecting; the request fails with the refusal', async () => {
  const upstream = await startMockUpstream();
  const port = new URL(upstream.url).port;
  const agent = new Agent({ connect: upstreamConnector({ policy: CLOSED, connectTimeoutMs: 2_000, resolve: fakeResolver({ 'rebind.test': ['127.0.0.1'], 'public.test': ['127.0.0.1'] }) }) });
  const agentOpen = new Agent({ connect: upstreamConnector({ policy: OPEN, connectTimeoutMs: 2_000, resolve: fakeResolver({ 'rebind.test': ['127.0.0.1'] }) }) });
  try {
    await assert.rejects(request(`http://rebind.test:${port}/v1/models`, { dispatcher: agent }), (err: NodeJS.ErrnoException) => err.code === 'UPSTREAM_ADDRESS_REFUSED');
    await assert.rejects(request(`http://127.0.0.1:${port}/v1/models`, { dispatcher: agent }), (err: NodeJS.ErrnoException) => err.code === 'UPSTREAM_ADDRESS_REFUSED');
    assert.equal(upstream.stats.requests, 0, 'nothing reached the upstream');
    // With private networks allowed, the same name connects (through the fake resolver).
    const res = await request(`http://rebind.test:${port}/v1/models`, { dispatcher: agentOpen });
    await res.body.text();
    assert.equal(res.statusCode, 200);
  } finally {
    await agent.close();
    await agentOpen.close();
    await upstream.close();
  }
});

test('address checks: IPv4-mapped and plain forms agree', () => {
  assert.equal(checkUpstreamAddress('::ffff:a9fe:a9fe', OPEN).ok, false);
  assert.equal(checkUpstreamAddress('::ffff:10.0.0.1', CLOSED).ok, false);
  assert.equal(checkUpstreamAddress('::ffff:8.8.8.8', CLOSED).ok, true);
  assert.equal(checkUpstreamAddress('not-an-ip', OPEN).ok, false);
});

test('allowPrivateNetworks=false: a 127.0.0.1 channel is refused at connect (clear 502, failover works); the built-in mock still answers', async () => {
  const fx = await startFixture({ TOLLGATE_UPSTREAM_ALLOW_PRIVATE_NETWORKS: 'false' });
  const upstream = await startMockUpstream();
  try {
    assert.equal(fx.tg.config.upstream.allowPrivateNetworks, false);
    assertError(await admin(fx, 'POST', '/admin/channels', { name: 'via-api', base_url: upstream.url, models: ['m'] }), 400, 'base_url');
    // Written straight to the store: the config-time check is not in the way, the connect-time one must hold.
    const c = await fx.tg.store.channels.add({ name: 'local', type: 'openai', baseUrl: upstream.url, priority: 10, models: [{ model: 'mock-gpt', upstreamModel: 'mock-gpt' }] });
    await fx.tg.store.channels.addKey(c.id, 'sk-local');
    await fx.tg.sync.pollNow();
    const chat = (model: string) => request(`${fx.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fx.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    // mock-gpt: the refused channel first, then failover to the built-in mock (exempt).
    const served = await chat('mock-gpt');
    assert.equal(served.statusCode, 200, await served.body.text());
    assert.equal(upstream.stats.requests, 0, 'the refused channel was never reached');

    // A model only the refused channel serves: a 502 naming the refusal.
    const only = await fx.tg.store.channels.add({ name: 'local-only', type: 'openai', baseUrl: upstream.url, models: [{ model: 'only-local', upstreamModel: 'x' }] });
    await fx.tg.store.channels.addKey(only.id, 'sk-local');
    await fx.tg.store.prices.set({ model: 'only-local', channelId: null, inputMicrosPerMTok: 0, outputMicrosPerMTok: 0, free: true });
    await fx.tg.sync.pollNow();
    const refused = await chat('only-local');
    const body = (await refused.body.json()) as { error: { message: string } };
    assert.equal(refused.statusCode, 502);
    assert.match(body.error.message, /refused/);
    assert.equal(upstream.stats.requests, 0);
  } finally {
    await fx.close();
    await upstream.close();
  }
});
