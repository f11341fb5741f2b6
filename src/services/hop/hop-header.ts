/**
 * The signed header of a hop request and of its reply.
 *
 *   x-tollgate-hop: v1.<keyId>.<nonce>.<ts>.<deadline>.<enc>.<caller>.<len>.<mac>
 *   x-tollgate-hop-reply: v1.<enc>.<mac>
 *
 * nonce: 16 random bytes (base64url); ts and deadline: epoch ms (deadline 0 =
 * none); enc: body compression (l lz4, z zstd, g gzip, n none); caller: the caller's
 * user id as the egress authenticated it; len: the plaintext body length or
 * -1. The request MAC (HMAC-SHA256 with the link key's MAC subkey) covers all
 * of these plus the method and the path with its query, so none can be
 * changed in transit. The reply MAC binds the reply to the request's nonce,
 * its status and its encoding.
 */
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { LinkKey } from './link-key.ts';

export const HOP_HEADER = 'x-tollgate-hop';
export const HOP_REPLY_HEADER = 'x-tollgate-hop-reply';

/** Body compression codes. */
export type HopEncoding = 'l' | 'z' | 'g' | 'n';

function isEncoding(code: string): code is HopEncoding {
  return code === 'l' || code === 'z' || code === 'g' || code === 'n';
}

/** The fields of a hop request header. */
export class HopFields {
  readonly keyId: string;
  readonly nonce: string;
  readonly ts: number;
  readonly deadline: number;
  readonly enc: HopEncoding;
  readonly caller: number;
  readonly len: number;
  readonly mac: string;

  constructor(keyId: string, nonce: string, ts: number, deadline: number, enc: HopEncoding, caller: number, len: number, mac: string) {
    this.keyId = keyId;
    this.nonce = nonce;
    this.ts = ts;
    this.deadline = deadline;
    this.enc = enc;
    this.caller = caller;
    this.len = len;
    this.mac = mac;
  }
}

function requestMac(key: LinkKey, f: Omit<HopFields, 'mac' | 'keyId'>, method: string, path: string): string {
  return createHmac('sha256', key.macKey)
    .update(`v1\n${key.id}\n${f.nonce}\n${f.ts}\n${f.deadline}\n${f.enc}\n${f.caller}\n${f.len}\n${method}\n${path}`)
    .digest('base64url');
}

/**
 * Random bytes for nonces, filled 256 nonces at a time: one CSPRNG call per
 * 256 requests instead of one randomBytes (a new Buffer and a native call) each.
 */
const NONCE_BYTES = 16;
const noncePool = Buffer.allocUnsafe(NONCE_BYTES * 256);
let nonceAt = noncePool.length;

/** A new nonce (base64url of 16 random bytes); no nonce shares bytes with another. */
export function newNonce(): string {
  if (nonceAt === noncePool.length) {
    randomFillSync(noncePool);
    nonceAt = 0;
  }
  nonceAt += NONCE_BYTES;
  return noncePool.toString('base64url', nonceAt - NONCE_BYTES, nonceAt);
}

/** Builds a signed request header value. */
export function signRequest(key: LinkKey, nonce: string, ts: number, deadline: number, enc: HopEncoding, caller: number, len: number, method: string, path: string): string {
  const mac = requestMac(key, { nonce, ts, deadline, enc, caller, len }, method, path);
  return `v1.${key.id}.${nonce}.${ts}.${deadline}.${enc}.${caller}.${len}.${mac}`;
}

const INT = /^-?\d{1,16}$/;

/** Parses a request header; null when malformed (the signature is checked by `verifyRequest`). */
export function parseRequest(value: string | string[] | undefined): HopFields | null {
  if (typeof value !== 'string') return null;
  const p = value.split('.');
  if (p.length !== 9 || p[0] !== 'v1' || p[2].length !== 22 || p[8].length !== 43) return null;
  if (!INT.test(p[3]) || !INT.test(p[4]) || !INT.test(p[6]) || !INT.test(p[7])) return null;
  const enc = p[5];
  if (!isEncoding(enc)) return null;
  return new HopFields(p[1], p[2], Number(p[3]), Number(p[4]), enc, Number(p[6]), Number(p[7]), p[8]);
}

/** Constant-time check of the request MAC. */
export function verifyRequest(key: LinkKey, f: HopFields, method: string, path: string): boolean {
  const want = Buffer.from(requestMac(key, f, method, path));
  const got = Buffer.from(f.mac);
  return want.length === got.length && timingSafeEqual(want, got);
}

function replyMac(key: LinkKey, nonce: string, status: number, enc: HopEncoding): string {
  return createHmac('sha256', key.macKey).update(`reply\n${nonce}\n${status}\n${enc}`).digest('base64url');
}

/** The reply header value. */
export function signReply(key: LinkKey, nonce: string, status: number, enc: HopEncoding): string {
  return `v1.${enc}.${replyMac(key, nonce, status, enc)}`;
}

/** The reply's encoding when its header verifies, else null. */
export function verifyReply(key: LinkKey, nonce: string, status: number, value: string | string[] | undefined): HopEncoding | null {
  if (typeof value !== 'string') return null;
  const p = value.split('.');
  if (p.length !== 3 || p[0] !== 'v1' || !isEncoding(p[1])) return null;
  const enc = p[1];
  const want = Buffer.from(replyMac(key, nonce, status, enc));
  const got = Buffer.from(p[2]);
  return want.length === got.length && timingSafeEqual(want, got) ? enc : null;
}
