/**
 * The proxy table and the proxy dispatchers on their own: selection (bindings,
 * channel pool over global pool, skipping cooling proxies), a rebuild that
 * keeps the dispatcher of an unchanged proxy and replaces a changed one, the
 * SSRF policy applied to the target behind a proxy, and the blame of tunnel
 * errors.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { HealthBook } from '../src/routing/channel-health.ts';
import { ProxyTable, UNAVAILABLE_BINDING, type ProxySpec } from '../src/routing/proxy-table.ts';
import { classifyTunnelError, proxyDispatcher } from '../src/routing/proxy-dispatcher.ts';
import { FailureError } from '../src/upstream/failure.ts';
import { UpstreamAddressRefused } from '../src/routing/upstream-connector.ts';
import { NO_PROXY_COUNTERS } from '../src/observability/proxy-metrics.ts';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';
import { startConnectProxy, startSocks5Proxy } from './support/test-proxies.ts';

const OPTS = { policy: { allowPrivateNetworks: true }, connectTimeoutMs: 2_000, connections: 4 };
const spec = (id: number, channelId: number | null = null, extra: Partial<ProxySpec> = {}): ProxySpec =>
  ({ id, name: `p${id}`, url: `http://127.0.0.1:${9000 + id}`, username: null, password: null, channelId, enabled: true, ...extra });
const tables: ProxyTable[] = [];
const table = (specs: ProxySpec[], bindings: ConstructorParameters<typeof ProxyTable>[1] = [], health = new HealthBook(1000, 60_000), previous: ProxyTable | null = null) => {
  const t = new ProxyTable(specs, bindings, health, OPTS, () => NO_PROXY_COUNTERS, previous);
  tables.push(t);
  return t;
};
after(async () => {
  for (const t of tables) await t.close();
});

test('selection: key binding over user binding, channel pool over global pool, round-robin skipping cooling proxies, none: direct', () => {
  const health = new HealthBook(1000, 60_000);
  const t = table([spec(1), spec(2), spec(3), spec(4, 7), spec(5, null, { enabled: false })], [
    { scope: 'user', subjectId: 10, proxyId: 3 }, { scope: 'key', subjectId: 20, proxyId: 4 }, { scope: 'user', subjectId: 11, proxyId: 5 },
  ], health);
  assert.equal((t.bound(10, 99) as { id: number }).id, 3);
  assert.equal((t.bound(10, 20) as { id: number }).id, 4, "the key's binding wins");
  assert.equal(t.bound(11, 98), UNAVAILABLE_BINDING, 'bound to a disabled proxy');
  assert.equal(t.bound(12, 97), undefined);
  assert.deepEqual([1, 2, 3, 4].map(() => t.pick(7, 0)!.id), [4, 4, 4, 4], 'channel 7 has its own pool');
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => t.pick(8, 0)!.id), [1, 2, 3, 1, 2, 3]);
  health.fail(t.proxies.find((p) => p.id === 2)!.health, 0);
  assert.deepEqual([1, 2, 3, 4].map(() => t.pick(8, 10)!.id), [1, 3, 3, 1], 'the cooling proxy is skipped');
  for (const p of t.proxies) health.fail(p.health, 0);
  assert.ok(t.pick(8, 10) !== null, 'all cooling: still one of them, never direct');
  assert.equal(table([]).pick(8, 0), null, 'no proxies: direct');
  assert.equal(t.poolSize(7), 1);
  assert.equal(t.poolSize(8), 3);
});

test('a rebuild keeps the dispatcher of an unchanged proxy, replaces a changed one, closes what it dropped', async () => {
  const health = new HealthBook(1000, 60_000);
  const first = table([spec(1), spec(2), spec(3)], [], health);
  const second = table([spec(1), spec(2, null, { password: 'new', username: 'u' })], [], health, first);
  const d = (t: ProxyTable, id: number) => t.proxies.find((p) => p.id === id)!.dispatcher;
  assert.equal(d(second, 1), d(first, 1));
  assert.notEqual(d(second, 2), d(first, 2));
  assert.equal(second.proxies.find((p) => p.id === 1)!.health, first.proxies.find((p) => p.id === 1)!.health, 'health survives');
  await second.retire(first);
  tables.splice(tables.indexOf(first), 1); // retired: its kept dispatcher is the second table's to close
  assert.equal((d(first, 3) as unknown as { closed: boolean }).closed, true);
  assert.equal((d(first, 2) as unknown as { closed: boolean }).closed, true);
  assert.equal((d(second, 1) as unknown as { closed: boolean }).closed, false);
});

test('the SSRF policy applies to the target behind the proxy: refused before any tunnel', async () => {
  const up = await startMockUpstream();
  const connectProxy = await startConnectProxy();
  const socks = await startSocks5Proxy();
  try {
    for (const p of [connectProxy, socks]) {
      const strict = proxyDispatcher({ name: 'strict', url: p.url, username: null, password: null }, { ...OPTS, policy: { allowPrivateNetworks: false } });
      await assert.rejects(request(`${up.url}/v1/models`, { dispatcher: strict }), (err: Error) => err instanceof UpstreamAddressRefused);
      assert.equal(p.stats.tunnels, 0);
      const open = proxyDispatcher({ name: 'open', url: p.url, username: null, password: null }, OPTS);
      const res = await request(`${up.url}/v1/models`, { dispatcher: open });
      assert.equal(res.statusCode, 200);
      await res.body.json();
      assert.equal(p.stats.tunnels, 1);
      await strict.close();
      await open.close();
    }
  } finally {
    await connectProxy.kill();
    await socks.kill();
    await up.close();
  }
});

test('tunnel errors: the proxy is blamed for itself, the channel for a target the proxy cannot reach', () => {
  const blame = (err: unknown) => {
    const e = classifyTunnelError('p', 'h:1', err);
    return e instanceof FailureError ? [e.failure.blame, e.failure.errorClass] : ['as is'];
  };
  assert.deepEqual(blame(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), ['proxy', 'proxy_unreachable']);
  assert.deepEqual(blame(new Error('Proxy response (407) !== 200 when HTTP Tunneling')), ['proxy', 'proxy_auth']);
  assert.deepEqual(blame(Object.assign(new Error('Authentication failed'), { code: 'UND_ERR_SOCKS5_AUTH_FAILED' })), ['proxy', 'proxy_auth']);
  assert.deepEqual(blame(new Error('Proxy response (403) !== 200 when HTTP Tunneling')), ['proxy', 'proxy_refused']);
  assert.deepEqual(blame(new Error('Proxy response (502) !== 200 when HTTP Tunneling')), ['channel', 'proxy_target_unreachable']);
  assert.deepEqual(blame(Object.assign(new Error('SOCKS5 connection failed'), { code: 'UND_ERR_SOCKS5_REPLY_5' })), ['channel', 'proxy_target_unreachable']);
  assert.deepEqual(blame(Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })), ['as is']);
});
