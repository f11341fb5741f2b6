/**
 * The client address that a key's address allow-list is checked against.
 *
 * By default it is the TCP peer. Anyone can send a header, so a header is read
 * only when the operator names one (`trustedProxyHeader`, for a gateway behind
 * a load balancer). It is read right to left, because each proxy appends the
 * address it got the request from: the right-most entries come from our own
 * proxies and the left-most from whoever sent the request. The client is the
 * right-most entry that is not in `trustedProxies`. With no trustedProxies it
 * is the right-most entry (one proxy in front). With trustedProxies set, a
 * peer outside them may not set the header at all, so its own address counts.
 * An entry that is not an address gives no address, and the allow-list refuses.
 */
import type { IncomingMessage } from 'node:http';
import { isIP, type BlockList } from 'node:net';
import { addressIn, compileAddresses } from '../keys/key-rules.ts';

export class ClientAddress {
  /** Lower-case header name, or null: the TCP peer. */
  readonly #header: string | null;
  /** Proxies allowed to set the header; null: any peer. */
  readonly #trusted: BlockList | null;

  constructor(header: string | null, trustedProxies: readonly string[]) {
    this.#header = header;
    this.#trusted = trustedProxies.length === 0 ? null : compileAddresses(trustedProxies);
  }

  /** Whether the request comes from an address in `allowed`. */
  allowed(req: IncomingMessage, allowed: BlockList): boolean {
    const address = this.of(req);
    return address !== null && addressIn(allowed, address);
  }

  /** The client's address; null when it cannot be told. */
  of(req: IncomingMessage): string | null {
    const peer = req.socket.remoteAddress ?? null;
    if (this.#header === null || peer === null) return peer;
    if (this.#trusted !== null && !addressIn(this.#trusted, peer)) return peer;
    const raw = req.headers[this.#header];
    if (raw === undefined) return peer;
    const entries = (Array.isArray(raw) ? raw.join(',') : raw).split(',');
    for (let i = entries.length - 1; i >= 0; i--) {
      const address = bareAddress(entries[i].trim());
      if (address === null) return null;
      // All trusted: the left-most entry is the farthest address known.
      if (i === 0 || this.#trusted === null || !addressIn(this.#trusted, address)) return address;
    }
    return null;
  }
}

/** An address from a header entry, without the port some proxies add (`1.2.3.4:5678`, `[::1]:80`). */
function bareAddress(entry: string): string | null {
  if (isIP(entry) !== 0) return entry;
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed !== null) return isIP(bracketed[1]) === 6 ? bracketed[1] : null;
  const withPort = /^([\d.]+):\d{1,5}$/.exec(entry);
  return withPort !== null && isIP(withPort[1]) === 4 ? withPort[1] : null;
}
