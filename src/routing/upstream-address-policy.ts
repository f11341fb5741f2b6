/**
 * Which upstream addresses a channel may point at (SSRF guard). Checked when
 * a channel's base URL is written (admin API, CLI) and again when a
 * connection is opened, on the address actually dialled (DNS answers
 * included), so a name that later resolves elsewhere (DNS rebinding) cannot
 * reach what the first check refused.
 *
 * Always refused: schemes other than http(s); cloud metadata services
 * (169.254.169.254 and the well-known metadata host names and addresses);
 * link-local (169.254.0.0/16, fe80::/10); unspecified / "this network"
 * (0.0.0.0/8, ::, IPv4-compatible ::/96). Loopback, private (RFC 1918),
 * CGNAT (100.64.0.0/10) and ULA (fc00::/7) are allowed unless
 * `upstream.allowPrivateNetworks` is false: local model servers live there.
 *
 * Host names are parsed by the WHATWG URL parser, which normalises the
 * decimal, octal and hex IPv4 spellings (http://2852039166/ is
 * 169.254.169.254) and compresses IPv6; node:net's BlockList matches
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) against IPv4 subnets by itself.
 */
import { BlockList, isIP } from 'node:net';

/** Why an address is refused; a closed set, for tests and messages. */
export type AddressRefusal = 'invalid_url' | 'scheme' | 'metadata' | 'link_local' | 'unspecified' | 'private';

/** The result of a check: allowed, or refused with a reason and a message naming it. */
export type AddressVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: AddressRefusal; readonly message: string };

/** The configurable part of the policy. */
export interface AddressPolicy {
  /** Loopback, RFC 1918, CGNAT and ULA addresses; true by default (config `upstream.allowPrivateNetworks`). */
  readonly allowPrivateNetworks: boolean;
}

/** The default policy (what the store-independent checks use when no config is at hand). */
export const DEFAULT_ADDRESS_POLICY: AddressPolicy = { allowPrivateNetworks: true };

const ALLOWED: AddressVerdict = { ok: true };

/** Metadata services by name (GCP, AWS, Azure, OpenStack, Alibaba, Oracle). Compared lowercased, without a trailing dot. */
const METADATA_HOSTS: ReadonlySet<string> = new Set([
  'metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal',
  'metadata.azure.internal', 'metadata.platformequinix.com',
]);

function blockList(entries: ReadonlyArray<readonly [string, number]>): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of entries) {
    const family = isIP(net) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(net, prefix, family);
  }
  return list;
}

/** Metadata services: the common 169.254.169.254, AWS IPv6 IMDS, Alibaba, Azure wire server. */
const METADATA = blockList([['169.254.169.254', 32], ['fd00:ec2::254', 128], ['100.100.100.200', 32], ['168.63.129.16', 32]]);
const LINK_LOCAL = blockList([['169.254.0.0', 16], ['fe80::', 10]]);
/** 0.0.0.0/8 reaches the local host on Linux; ::/96 holds :: and the deprecated IPv4-compatible form (::1 is checked first). */
const UNSPECIFIED = blockList([['0.0.0.0', 8], ['::', 96]]);
const PRIVATE = blockList([
  ['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10],
  ['::1', 128], ['fc00::', 7],
]);
/** NAT64 (RFC 6052): the IPv4 address in its last 32 bits is what is reached. */
const NAT64 = blockList([['64:ff9b::', 96]]);

const refuse = (reason: AddressRefusal, message: string): AddressVerdict => ({ ok: false, reason, message });

/**
 * Checks an IP address (no brackets) as it will be dialled. Anything that is
 * not an IP address is refused as invalid.
 */
export function checkUpstreamAddress(address: string, policy: AddressPolicy): AddressVerdict {
  const version = isIP(address);
  if (version === 0) return refuse('invalid_url', `${address} is not an IP address`);
  const family = version === 6 ? 'ipv6' : 'ipv4';
  if (METADATA.check(address, family)) return refuse('metadata', `${address} is a cloud metadata address`);
  if (LINK_LOCAL.check(address, family)) return refuse('link_local', `${address} is a link-local address`);
  if (PRIVATE.check(address, family)) {
    return policy.allowPrivateNetworks ? ALLOWED : refuse('private', `${address} is a loopback or private address (upstream.allowPrivateNetworks is false)`);
  }
  if (UNSPECIFIED.check(address, family)) return refuse('unspecified', `${address} is an unspecified address`);
  if (family === 'ipv6' && NAT64.check(address, family)) {
    const inner = checkUpstreamAddress(lastIPv4(address), policy);
    return inner.ok ? ALLOWED : refuse(inner.reason, `${address} (NAT64 of ${inner.message})`);
  }
  return ALLOWED;
}

/** Checks a host as it appears in a URL (brackets around IPv6 allowed) or as undici hands it to the connector. */
export function checkUpstreamHost(host: string, policy: AddressPolicy): AddressVerdict {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) !== 0) return checkUpstreamAddress(bare, policy);
  const name = bare.toLowerCase().replace(/\.$/, '');
  if (name === '') return refuse('invalid_url', 'the URL has no host');
  if (METADATA_HOSTS.has(name)) return refuse('metadata', `${name} is a cloud metadata host name`);
  if (!policy.allowPrivateNetworks && (name === 'localhost' || name.endsWith('.localhost'))) {
    return refuse('private', `${name} is a loopback host name (upstream.allowPrivateNetworks is false)`);
  }
  return ALLOWED;
}

/** Checks a channel base URL: http(s) only, and its host by `checkUpstreamHost`. */
export function checkUpstreamUrl(value: string, policy: AddressPolicy): AddressVerdict {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse('invalid_url', 'not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return refuse('scheme', `scheme ${url.protocol} is not allowed (http or https only)`);
  return checkUpstreamHost(url.hostname, policy);
}

/** The IPv4 address in the last 32 bits of an IPv6 address (compressed or with a dotted tail). */
function lastIPv4(ipv6: string): string {
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(ipv6);
  if (dotted !== null) return dotted[1];
  const groups = ipv6.split(':');
  const low = parseInt(groups[groups.length - 1] || '0', 16);
  const high = parseInt(groups[groups.length - 2] || '0', 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
