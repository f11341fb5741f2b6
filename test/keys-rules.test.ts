/** Key rules: expiry and CIDR parsing, the compiled cache entry, and where the client address comes from. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { addressIn, compileAddresses, identityOf, isCidr, parseExpiry, splitCidrList } from '../src/keys/key-rules.ts';
import { ClientAddress } from '../src/gateway/client-address.ts';

const NOW = Date.UTC(2026, 0, 1);

test('expiry: durations from now, ISO dates and times; anything else is null', () => {
  assert.equal(parseExpiry('30d', NOW), NOW + 30 * 86_400_000);
  assert.equal(parseExpiry('12h', NOW), NOW + 12 * 3_600_000);
  assert.equal(parseExpiry('2w', NOW), NOW + 14 * 86_400_000);
  assert.equal(parseExpiry('1s', NOW), NOW + 1_000);
  assert.equal(parseExpiry('90m', NOW), NOW + 90 * 60_000);
  assert.equal(parseExpiry('2027-01-31', NOW), Date.UTC(2027, 0, 31));
  assert.equal(parseExpiry('2027-01-31T12:30:00Z', NOW), Date.UTC(2027, 0, 31, 12, 30));
  assert.equal(parseExpiry('2027-01-31T12:30:00+02:00', NOW), Date.UTC(2027, 0, 31, 10, 30));
  for (const bad of ['', '30', '0d', '3x', '1.5h', '-1d', 'tomorrow', '2027-13-45', '30 d', '2027-01-31junk']) {
    assert.equal(parseExpiry(bad, NOW), null, bad);
  }
});

test('CIDRs: IPv4 and IPv6 with a prefix, or a bare address; bad ones are named', () => {
  for (const good of ['10.0.0.0/8', '192.168.1.7', '0.0.0.0/0', '::1/128', '2001:db8::/32', '::', 'fe80::1/10']) assert.ok(isCidr(good), good);
  for (const bad of ['10.0.0.0/33', '::1/129', '10.0.0/8', '10.0.0.0/', '10.0.0.0/8/8', 'localhost', '10.0.0.0/-1', '', '1.2.3.4/08x']) assert.ok(!isCidr(bad), bad);
  assert.deepEqual(splitCidrList(' 10.0.0.0/8, ::1/128 ,'), { cidrs: ['10.0.0.0/8', '::1/128'] });
  assert.deepEqual(splitCidrList('10.0.0.0/8,10.0.0.0/33'), { bad: '10.0.0.0/33' });
});

test('compiled address lists match IPv4, IPv6 and IPv4-mapped IPv6; a damaged entry admits nothing extra', () => {
  const list = compileAddresses(['10.0.0.0/8', '2001:db8::/32', '192.168.1.7', 'garbage']);
  assert.ok(addressIn(list, '10.200.3.4'));
  assert.ok(addressIn(list, '::ffff:10.1.1.1'), 'a dual-stack socket reports IPv4 peers as IPv4-mapped');
  assert.ok(addressIn(list, '2001:db8:1::9'));
  assert.ok(addressIn(list, '192.168.1.7'));
  assert.ok(!addressIn(list, '192.168.1.8'));
  assert.ok(!addressIn(list, '11.0.0.1'));
  assert.ok(!addressIn(list, '2001:db9::1'));
  assert.ok(!addressIn(list, 'not-an-address'));
});

test('the cache entry compiles the rules once: expiry number, model Set, address BlockList', () => {
  const row = { id: 1, userId: 2, name: 'ci', userName: 'alice', revoked: false, userDisabled: false };
  const open = identityOf({ ...row, expiresAt: null, models: null, ips: null, cache: false });
  assert.equal(open.expiresAt, Number.POSITIVE_INFINITY);
  assert.equal(open.models, null);
  assert.equal(open.ips, null);
  assert.equal(open.cache, false);
  const ruled = identityOf({ ...row, expiresAt: NOW, models: ['gpt-4o', 'mock-gpt'], ips: ['::1/128'], cache: true });
  assert.equal(ruled.cache, true);
  assert.equal(ruled.expiresAt, NOW);
  assert.ok(ruled.models?.has('mock-gpt') && !ruled.models.has('mock-gpt-large'));
  assert.ok(ruled.ips !== null && addressIn(ruled.ips, '::1') && !addressIn(ruled.ips, '127.0.0.1'));
});

/** The parts of a request ClientAddress reads. */
const req = (peer: string | undefined, headers: Record<string, string | string[]> = {}) => ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;

test('client address: the TCP peer unless a header is configured; a header sent anyway is ignored', () => {
  const peerOnly = new ClientAddress(null, []);
  assert.equal(peerOnly.of(req('127.0.0.1', { 'x-forwarded-for': '10.1.2.3' })), '127.0.0.1', 'spoofed header ignored');
  assert.equal(peerOnly.of(req('::1')), '::1');
  assert.ok(!peerOnly.allowed(req('127.0.0.1', { 'x-forwarded-for': '10.1.2.3' }), compileAddresses(['10.0.0.0/8'])));
});

test('client address with a trusted header: the right-most entry not among the trusted proxies', () => {
  const anyPeer = new ClientAddress('x-forwarded-for', []);
  assert.equal(anyPeer.of(req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 10.1.2.3' })), '10.1.2.3', 'no trusted proxies: one proxy in front');
  assert.equal(anyPeer.of(req('127.0.0.1')), '127.0.0.1', 'no header: the peer');
  assert.equal(anyPeer.of(req('127.0.0.1', { 'x-forwarded-for': '2001:db8::5' })), '2001:db8::5');
  assert.equal(anyPeer.of(req('127.0.0.1', { 'x-forwarded-for': '[2001:db8::5]:4711' })), '2001:db8::5');
  assert.equal(anyPeer.of(req('127.0.0.1', { 'x-forwarded-for': '198.51.100.1:8080' })), '198.51.100.1');
  assert.equal(anyPeer.of(req('127.0.0.1', { 'x-forwarded-for': 'unknown' })), null, 'not an address: nothing to allow');

  const trusted = new ClientAddress('x-forwarded-for', ['127.0.0.0/8', '10.0.0.0/8']);
  assert.equal(trusted.of(req('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.1' })), '203.0.113.9', 'trusted hops skipped, the spoofed left part not reached');
  assert.equal(trusted.of(req('10.0.0.1', { 'x-forwarded-for': '10.0.0.3, 10.0.0.2' })), '10.0.0.3', 'all trusted: the farthest');
  assert.equal(trusted.of(req('192.0.2.50', { 'x-forwarded-for': '10.0.0.2' })), '192.0.2.50', 'a peer outside trustedProxies may not set the header');
  assert.equal(trusted.of(req('::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.9' })), '203.0.113.9', 'an IPv4-mapped peer is the IPv4 proxy');
  assert.equal(trusted.of(req('127.0.0.1', { 'x-forwarded-for': ['203.0.113.9', '10.0.0.1'] })), '203.0.113.9', 'repeated header lines read as one list');

  const realIp = new ClientAddress('x-real-ip', []);
  assert.equal(realIp.of(req('127.0.0.1', { 'x-real-ip': '198.51.100.7', 'x-forwarded-for': '10.1.2.3' })), '198.51.100.7', 'only the configured header counts');
});
