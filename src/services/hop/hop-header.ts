/**
 * The hop request header and its reply header.
 *
 *   x-tollgate-hop: v2.<keyId>.<epoch>.<counter>.<ts>.<deadline>.<enc>.<caller>.<len>
 *   x-tollgate-hop-reply: v2.<enc>            (a reply with a body)
 *   x-tollgate-hop-reply: v2.<enc>.<tag>      (a reply without one: HEAD, 204, 304)
 *
 * epoch and counter: the egress epoch (22 base64url characters) and the
 * message's number in it (hop-epoch.ts); ts and deadline: epoch ms (deadline
 * 0 = none); enc: body compression (l lz4, z zstd, g gzip, n none); caller:
 * the caller's user id as the egress authenticated it; len: the plaintext
 * body length or -1.
 *
 * Nothing here carries a MAC of its own: the header value exactly as sent,
 * the method and the path with its query are the binding of the body's first
 * frame (its AES-GCM additional data, frame-codec.ts), and every request has
 * at least one frame, so the frame that authenticates the body authenticates
 * the header too, with no HMAC per message on either node. A reply's status
 * and encoding are bound the same way; a reply that has no body carries the
 * tag of an empty frame in its header instead.
 */
export const HOP_HEADER = 'x-tollgate-hop';
export const HOP_REPLY_HEADER = 'x-tollgate-hop-reply';

/** Body compression codes. */
export type HopEncoding = 'l' | 'z' | 'g' | 'n';

function isEncoding(code: string): code is HopEncoding {
  return code === 'l' || code === 'z' || code === 'g' || code === 'n';
}

/** The fields of a hop request header, and its value as received (the binding of the first frame). */
export class HopFields {
  readonly value: string;
  readonly keyId: string;
  readonly epoch: string;
  readonly counter: number;
  readonly ts: number;
  readonly deadline: number;
  readonly enc: HopEncoding;
  readonly caller: number;
  readonly len: number;

  constructor(value: string, keyId: string, epoch: string, counter: number, ts: number, deadline: number, enc: HopEncoding, caller: number, len: number) {
    this.value = value;
    this.keyId = keyId;
    this.epoch = epoch;
    this.counter = counter;
    this.ts = ts;
    this.deadline = deadline;
    this.enc = enc;
    this.caller = caller;
    this.len = len;
  }

  /** The message's replay id: unique per epoch and counter. */
  get nonce(): string {
    return `${this.epoch}.${this.counter}`;
  }
}

/** A request header value. */
export function formatRequest(keyId: string, epoch: string, counter: number, ts: number, deadline: number, enc: HopEncoding, caller: number, len: number): string {
  return `v2.${keyId}.${epoch}.${counter}.${ts}.${deadline}.${enc}.${caller}.${len}`;
}

/** What the request body's first frame authenticates: the header value as sent, the method and the path. */
export function requestBinding(headerValue: string, method: string, path: string): string {
  return `${headerValue}\n${method}\n${path}`;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const EPOCH = /^[A-Za-z0-9_-]{22}$/;
const INT = /^-?\d{1,16}$/;
const MAX_COUNTER = 2 ** 48 - 1;

/** Parses a request header; null when malformed (it is authenticated with the body's first frame). */
export function parseRequest(value: string | string[] | undefined): HopFields | null {
  if (typeof value !== 'string') return null;
  const p = value.split('.');
  if (p.length !== 9 || p[0] !== 'v2' || !KEY_ID.test(p[1]) || !EPOCH.test(p[2])) return null;
  if (!INT.test(p[3]) || !INT.test(p[4]) || !INT.test(p[5]) || !INT.test(p[7]) || !INT.test(p[8])) return null;
  const enc = p[6];
  if (!isEncoding(enc)) return null;
  const counter = Number(p[3]);
  const len = Number(p[8]);
  if (counter < 0 || counter > MAX_COUNTER || len < -1) return null;
  return new HopFields(value, p[1], p[2], counter, Number(p[4]), Number(p[5]), enc, Number(p[7]), len);
}

/** What a reply's first frame (or its header tag) authenticates. */
export function replyBinding(status: number, enc: HopEncoding): string {
  return `v2 reply\n${status}\n${enc}`;
}

/** A reply header value; `tag` only for a reply without a body. */
export function formatReply(enc: HopEncoding, tag: Buffer | null): string {
  return tag === null ? `v2.${enc}` : `v2.${enc}.${tag.toString('base64url')}`;
}

/** A parsed reply header: its encoding, and the tag of a body-less reply (else null). */
export interface HopReply {
  enc: HopEncoding;
  tag: Buffer | null;
}

export function parseReply(value: string | string[] | undefined): HopReply | null {
  if (typeof value !== 'string') return null;
  const p = value.split('.');
  if (p.length < 2 || p.length > 3 || p[0] !== 'v2' || !isEncoding(p[1])) return null;
  if (p.length === 2) return { enc: p[1], tag: null };
  const tag = Buffer.from(p[2], 'base64url');
  return tag.length === 16 ? { enc: p[1], tag } : null;
}
