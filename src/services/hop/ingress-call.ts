/**
 * The ingress side of the secure hop. Before anything is forwarded: the
 * header must parse, name a known link key, carry a valid signature over
 * method, path, caller, time, deadline and encoding, be inside the time
 * window with a nonce not seen before, and the body's first frame must
 * authenticate. Then the call goes through the same privilege, deadline and
 * limit checks as a local one, and the reply is compressed and encrypted
 * back with the reply key.
 *
 * A small body of known length (at most ONE_SHOT_MAX) is opened whole before
 * it is forwarded, and a small reply of known length sealed whole (see
 * sealed-message.ts). A longer body streams: a frame that fails later in it
 * aborts the upstream request mid-body, so the service sees a cut request,
 * never a complete forged one.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { responseHeaders } from '../forward-headers.ts';
import type { BodySink, ResponseStart, ServiceCall } from '../service-call.ts';
import { ServiceErrors } from '../service-errors.ts';
import { serveLocal } from '../local-call.ts';
import type { ServiceParts } from '../service-parts.ts';
import { chooseEncoding, compressor, decompressor } from './body-compression.ts';
import { FrameDecoder, FrameEncoder, FrameError } from './frame-codec.ts';
import { HOP_HEADER, HOP_REPLY_HEADER, parseRequest, signReply, verifyRequest, type HopEncoding } from './hop-header.ts';
import { HopState } from './hop-state.ts';
import { compressOnce, decompressOnce, ONE_SHOT_MAX, OneShotError } from './one-shot-codec.ts';
import { openMessage, sealedBound, sealMessage } from './sealed-message.ts';
import { chain } from './stream-chain.ts';
import { hasReplyBody, readWhole, WholeBodySink } from './whole-body.ts';

/** Largest frame accepted from an egress. */
const MAX_FRAME = 16 * 1024 * 1024;

/** Verifies and serves one hop request for service `name`; `fullPath` is the signed /svc/... path. */
export async function acceptHop(r: ServiceParts, call: ServiceCall, name: string, fullPath: string): Promise<void> {
  const link = r.ingress;
  if (link === null) return call.fail(ServiceErrors.hopDisabled);
  const f = parseRequest(call.req.headers[HOP_HEADER]);
  if (f === null) return call.fail(ServiceErrors.hopMalformed);
  // An LZ4 body is one block, so it is held whole: only for a signed length up to ONE_SHOT_MAX.
  if (f.enc === 'l' && (f.len < 0 || f.len > ONE_SHOT_MAX)) return call.fail(ServiceErrors.hopMalformed, 'An LZ4 hop body must declare a length of at most 64 KiB.');
  const key = link.keys.get(f.keyId);
  if (key === undefined) return call.fail(ServiceErrors.hopUnknownKey, `The hop is signed with link key '${f.keyId}', which this node does not accept.`);
  if (!verifyRequest(key, f, call.method, fullPath)) return call.fail(ServiceErrors.hopBadSignature);
  const checked = link.guard.check(f.nonce, f.ts, Date.now());
  switch (checked instanceof Promise ? await checked : checked) {
    case 'expired': return call.fail(ServiceErrors.hopExpired);
    case 'replayed': return call.fail(ServiceErrors.hopReplayed);
    case 'busy': return call.fail(ServiceErrors.hopBusy);
  }
  call.userId = f.caller;
  call.deadline = f.deadline;
  const entry = r.table.get(name);
  if (entry === undefined || entry.remote) return call.fail(ServiceErrors.unknownService, `No service named '${name}'.`);
  call.entry = entry;
  const hop = new HopState(key, f.nonce, r.hop);
  call.hop = hop;
  call.onStart = startIngressReply;
  const cl = call.req.headers['content-length'];
  const wireLength = cl === undefined ? -1 : Number(cl);
  // A small body of known length (what an egress sends as one buffer): every frame is
  // opened, and the body decompressed to its signed length, before anything is forwarded.
  if (f.len >= 0 && f.len <= ONE_SHOT_MAX && wireLength >= 0 && wireLength <= sealedBound(f.len)) {
    const wire = await readWhole(call.req);
    if (wire === null || call.ended) return; // the client left: the call records on close
    const plain = openWhole(hop, f.enc, f.len, wire);
    if (plain === null) return call.fail(ServiceErrors.hopBadFrame);
    return serveLocal(r, call, f.len === 0 ? null : plain, f.len);
  }
  const decoder = new FrameDecoder(hop.requestKey(), hop.nonceBytes, MAX_FRAME);
  call.req.pipe(decoder);
  if (!(await firstFrame(decoder))) return call.fail(ServiceErrors.hopBadFrame);
  const unzip = decompressor(f.enc, f.len);
  let body: Readable = decoder;
  if (unzip !== null) body = decoder.pipe(unzip);
  decoder.on('error', (err) => unzip?.destroy(err));
  // A body-less request is one empty last frame: nothing to stream to the service.
  const len = f.len;
  return serveLocal(r, call, len === 0 ? drained(body) : body, len);
}

/** The plaintext of a whole request body, or null when a frame or the compression does not check out. */
function openWhole(hop: HopState, enc: HopEncoding, length: number, wire: Buffer): Buffer | null {
  try {
    const body = openMessage(hop.requestKey(), hop.nonceBytes, wire, MAX_FRAME);
    if (enc !== 'n') return decompressOnce(enc, body, length);
    return body.length === length ? body : null;
  } catch (err) {
    if (err instanceof FrameError || err instanceof OneShotError) return null;
    throw err;
  }
}

/** Resolves true once the first frame authenticated, false if the body failed first. */
function firstFrame(decoder: FrameDecoder): Promise<boolean> {
  return new Promise((resolve) => {
    const ok = () => { decoder.off('error', bad); resolve(true); };
    const bad = () => { decoder.off('verified', ok); resolve(false); };
    decoder.once('verified', ok);
    decoder.once('error', bad);
  });
}

function drained(body: Readable): null {
  body.resume();
  return null;
}

/** Signs the reply head and sets up compress → encrypt → client. */
const startIngressReply: ResponseStart = (call, status, headers): BodySink => {
  const hop = call.hop!;
  const enc = chooseEncoding(headers, hop.settings.compression, hop.settings.compressMinBytes);
  const cl = headers['content-length'];
  const length = cl === undefined ? -1 : Number(cl);
  if (length >= 0 && length <= ONE_SHOT_MAX && hasReplyBody(call, status)) return new WholeBodySink((plain) => endWholeReply(call, status, headers, enc, length, plain));
  const out = responseHeaders(headers, true);
  out[HOP_REPLY_HEADER] = signReply(hop.key, hop.nonce, status, enc);
  call.res.writeHead(status, out);
  // Uncompressed with a known length: the encoder marks the frame that completes it as the last one.
  const encoder = new FrameEncoder(hop.replyKey(), hop.nonceBytes, hop.settings.frameBytes, enc === 'n' ? length : -1);
  const zip = compressor(enc, length);
  if (zip === null) {
    chain([encoder, call.res], ignore);
    return encoder;
  }
  chain([zip, encoder, call.res], ignore);
  return zip;
};

/** A small reply gathered whole: compressed and sealed in one buffer, sent with its content-length. */
function endWholeReply(call: ServiceCall, status: number, headers: IncomingHttpHeaders, enc: HopEncoding, length: number, plain: Buffer): void {
  if (plain.length !== length) {
    call.cut = true;
    call.res.destroy(new Error('the service reply does not match its content-length'));
    return;
  }
  const hop = call.hop!;
  const wire = sealMessage(hop.replyKey(), hop.nonceBytes, enc === 'n' ? plain : compressOnce(enc, plain), hop.settings.frameBytes);
  const out = responseHeaders(headers, true);
  out[HOP_REPLY_HEADER] = signReply(hop.key, hop.nonce, status, enc);
  out['content-length'] = String(wire.length);
  call.res.writeHead(status, out);
  call.res.end(wire);
}

function ignore(): void {
  // A failed reply pipeline destroys the client response; the call records on close.
}
