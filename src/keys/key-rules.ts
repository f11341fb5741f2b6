/**
 * Key governance: expiry, model allow-list and client address allow-list.
 * What operators write (a duration or date, a CIDR list) is parsed here, and a
 * stored key's rules are compiled here once per key cache fill, into what the
 * hot path checks in O(1): a number, a Set, a BlockList.
 */
import { BlockList, isIP } from 'node:net';
import type { KeyRow } from '../store/key-repo.ts';
import type { KeyIdentity } from './key-cache.ts';

/** Units of `--expires 30d`: seconds to weeks (months and years vary in length; give a date for those). */
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * An expiry as operators write it: a duration from `now` (`12h`, `30d`, `2w`;
 * units s, m, h, d, w) or an ISO-8601 date or time (`2027-01-31`, taken as
 * UTC midnight, or `2027-01-31T12:00:00Z`). Null when it is neither.
 * Hand-written: the grammar is one regex, and none of our dependencies parses both forms.
 */
export function parseExpiry(text: string, now: number): number | null {
  const value = text.trim();
  const duration = /^(\d{1,6})([smhdw])$/.exec(value);
  if (duration !== null) {
    const amount = Number(duration[1]);
    return amount === 0 ? null : now + amount * UNIT_MS[duration[2]];
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isSafeInteger(ms) ? ms : null;
}

/** One allow-list entry: an address with its prefix length (a bare address is a /32 or /128). */
interface Subnet { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/** Parses `10.0.0.0/8`, `::1/128` or a bare address; null when it is not one. The address itself is checked by node:net. */
function parseSubnet(text: string): Subnet | null {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family: version === 4 ? 'ipv4' : 'ipv6' };
  const bits = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null;
  return { address, prefix: Number(bits), family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Whether `text` is a CIDR (or a bare address) that an allow-list accepts. */
export const isCidr = (text: string): boolean => parseSubnet(text.trim()) !== null;

/**
 * A comma-separated CIDR list as given on the command line: the entries, or
 * the first entry that is not a CIDR.
 */
export function splitCidrList(text: string): { cidrs: string[] } | { bad: string } {
  const cidrs = text.split(',').map((c) => c.trim()).filter((c) => c !== '');
  const bad = cidrs.find((c) => !isCidr(c));
  return bad === undefined ? { cidrs } : { bad };
}

/**
 * One BlockList for a CIDR list (node:net does the matching, IPv4-mapped IPv6
 * addresses included). An entry that does not parse is left out, so a
 * damaged row admits fewer addresses, never more.
 */
export function compileAddresses(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const subnet = parseSubnet(cidr.trim());
    if (subnet !== null) list.addSubnet(subnet.address, subnet.prefix, subnet.family);
  }
  return list;
}

/** Whether `address` (any form node:net reads) is in `list`; false for anything that is not an address. */
export function addressIn(list: BlockList, address: string): boolean {
  const version = isIP(address);
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6');
}

/** The cache entry of a stored key: its rules compiled once, for O(1) checks per request. */
export function identityOf(k: KeyRow): KeyIdentity {
  return {
    keyId: k.id,
    userId: k.userId,
    keyName: k.name,
    userName: k.userName,
    revoked: k.revoked,
    userDisabled: k.userDisabled,
    expiresAt: k.expiresAt ?? Number.POSITIVE_INFINITY,
    models: k.models === null ? null : new Set(k.models),
    ips: k.ips === null ? null : compileAddresses(k.ips),
    cache: k.cache,
  };
}
