/**
 * The upstream pool's connector: undici's own `buildConnector` with the
 * address policy applied to what is actually dialled. An IP host is checked
 * as is; a host name is checked by name and then every DNS answer is checked
 * in the lookup, before the socket connects, so a name that resolves to a
 * refused address (DNS rebinding after the config-time check) fails like a
 * connect error: the attempt fails over to the next channel, and the client
 * gets a 502 when none is left.
 *
 * It runs once per new connection, not per request (connections are kept
 * alive), so the hot path pays nothing.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { buildConnector } from 'undici';
import { checkUpstreamAddress, checkUpstreamHost, type AddressPolicy, type AddressVerdict } from './upstream-address-policy.ts';

/** The error a refused upstream address fails its attempt with. */
export class UpstreamAddressRefused extends Error {
  readonly code = 'UPSTREAM_ADDRESS_REFUSED';
  constructor(host: string, verdict: AddressVerdict & { ok: false }) {
    super(`upstream address refused for ${host}: ${verdict.message}`);
  }
}

/** A `dns.lookup`-shaped resolver; injectable so tests need no real DNS. */
export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

export interface UpstreamConnectorOptions {
  policy: AddressPolicy;
  connectTimeoutMs: number;
  /** `host:port` pairs exempt from the policy (the built-in mock channel on 127.0.0.1). */
  exempt?: readonly string[];
  /** Defaults to `dns.lookup`. */
  resolve?: Resolver;
}

/**
 * A `net.connect` lookup that resolves all addresses and refuses the whole
 * answer when any address in it is refused: picking the allowed ones would
 * let an attacker's name mix a public address with an internal one.
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolver = dnsLookup as unknown as Resolver): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) return callback(err, '', 0);
      for (const a of addresses) {
        const verdict = checkUpstreamAddress(a.address, policy);
        if (!verdict.ok) return callback(new UpstreamAddressRefused(hostname, verdict), '', 0);
      }
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      if ((options as LookupOptions).all === true) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** Builds the `connect` option of the upstream Agent. */
export function upstreamConnector(opts: UpstreamConnectorOptions): buildConnector.connector {
  const base = buildConnector({ timeout: opts.connectTimeoutMs, lookup: guardedLookup(opts.policy, opts.resolve) } as buildConnector.BuildOptions);
  const exempt: ReadonlySet<string> = new Set(opts.exempt ?? []);
  return (options, callback) => {
    const { hostname, port } = options;
    if (!exempt.has(`${hostname}:${String(port)}`)) {
      // An IP host never reaches the lookup; a name is checked here by name and there by its answers.
      const verdict = checkUpstreamHost(hostname, opts.policy);
      if (!verdict.ok) {
        // Asynchronously, as a real connect error arrives: undici's client expects no re-entry.
        process.nextTick(callback, new UpstreamAddressRefused(hostname, verdict), null);
        return;
      }
    }
    base(options, callback);
  };
}
