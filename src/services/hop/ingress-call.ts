/**
 * The ingress side of the secure hop. Before anything is forwarded: the
 * header must parse and name a known link key; the body's first frame (for a
 * small body of known length, every frame) must authenticate, which
 * authenticates the header bound to it (method, path, caller, time, deadline,
 * encoding, length); then the timestamp must be inside the window and the
 * message not seen before (remembered only once authenticated, so nobody
 * without the key can fill the replay memory). Then the call goes through the
 * same privilege, deadline and limit checks as a local one, and the reply is
 * compressed and encrypted back under the same epoch key.
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
import { FrameDecoder, FrameEncoder, FrameError, type MessageSeal } from './frame-codec.ts';
import { formatReply, HOP_HEADER, HOP_REPLY_HEADER, parseRequest, requestBinding, type HopEncoding } from './hop-header.ts';
import { HopState } from './hop-state.ts';
import { compressOnce, decompressOnce, ONE_SHOT_MAX, OneShotError } from './one-shot-codec.ts';
import { emptyFrameTag, openMessage, sealedBound, sealMessage } from './sealed-message.ts';
import { chain } from './stream-chain.ts';
import { hasReplyBody, readWhole, WholeBodySink } from './whole-body.ts';

/** Largest frame accepted from an egress. */
const MAX_FRAME = 16 * 1024 * 1024;

/**
 * Verifies and serves one hop request for service `name`; `fullPath` is the
 * signed /svc/... path; `whole` the sealed body when it came whole over the
 * multiplexed connection (else it is read from the request).
 */
export async function acceptHop(r: ServiceParts, call: ServiceCall, name: string, fullPath: string, whole: Buffer | null = null): Promise<void> {
  const link = r.ingress;
  if (link === null) return call.fail(ServiceErrors.hopDisabled);
  const f = parseRequest(call.req.headers[HOP_HEADER]);
  if (f === null) return call.fail(ServiceErrors.hopMalformed);
  // An LZ4 body is one block, so it is held whole: only for a signed length up to ONE_SHOT_MAX.
  if (f.enc === 'l' && (f.len < 0 || f.len > ONE_SHOT_MAX)) return call.fail(ServiceErrors.hopMalformed, 'An LZ4 hop body must declare a length of at most 64 KiB.');
  const key = link.keys.get(f.keyId);
  if (key === undefined) return call.fail(ServiceErrors.hopUnknownKey, `The hop is signed with link key '${f.keyId}', which this node does not accept.`);
  const hop = new HopState(key.epochKey(f.epoch), f.counter, r.hop);
  const seal = hop.request(requestBinding(f.value, call.method, fullPath));
  const cl = call.req.headers['content-length'];
  const wireLength = cl === undefined ? -1 : Number(cl);
  let body: Readable | Buffer | null;
  // A small body of known length (what an egress sends as one buffer): every frame is
  // opened, and the body decompressed to its signed length, before anything is forwarded.
  const oneShot = f.len >= 0 && f.len <= ONE_SHOT_MAX && wireLength >= 0 && wireLength <= sealedBound(f.len);
  if (whole !== null && !oneShot) return call.fail(ServiceErrors.hopMalformed, 'Only a body held whole travels on the multiplexed hop.');
  if (oneShot) {
    const wire = whole ?? await readWhole(call.req);
    if (wire === null || call.ended) return; // the client left: the call records on close
    const plain = openWhole(seal, f.enc, f.len, wire);
    if (plain instanceof Error) return call.fail(refusal(plain));
    body = f.len === 0 ? null : plain;
  } else {
    const decoder = new FrameDecoder(seal, MAX_FRAME);
    call.req.pipe(decoder);
    const failed = await firstFrame(decoder);
    if (failed !== null) return call.fail(refusal(failed));
    const unzip = decompressor(f.enc, f.len);
    const plain = unzip === null ? decoder : decoder.pipe(unzip);
    decoder.on('error', (err) => unzip?.destroy(err));
    // A body-less request is one empty last frame: nothing to stream to the service.
    body = f.len === 0 ? drained(plain) : plain;
  }
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
  call.hop = hop;
  call.onStart = startIngressReply;
  return serveLocal(r, call, body, f.len);
}

/** A body that failed before its first frame authenticated leaves the header untrusted (401); later, a bad frame (400). */
function refusal(err: FrameError | OneShotError) {
  return err instanceof FrameError && err.first ? ServiceErrors.hopBadSignature : ServiceErrors.hopBadFrame;
}

/** The plaintext of a whole request body, or the error when a frame or the compression does not check out. */
function openWhole(seal: MessageSeal, enc: HopEncoding, length: number, wire: Buffer): Buffer | FrameError | OneShotError {
  try {
    const body = openMessage(seal, wire, MAX_FRAME);
    if (enc !== 'n') return decompressOnce(enc, body, length);
    return body.length === length ? body : new OneShotError(`the body is ${body.length} bytes, not the declared ${length}`);
  } catch (err) {
    if (err instanceof FrameError || err instanceof OneShotError) return err;
    throw err;
  }
}

/** Resolves null once the first frame authenticated, or the error if the body failed first. */
function firstFrame(decoder: FrameDecoder): Promise<FrameError | null> {
  return new Promise((resolve) => {
    const ok = () => { decoder.off('error', bad); resolve(null); };
    const bad = (err: Error) => { decoder.off('verified', ok); resolve(err instanceof FrameError ? err : new FrameError(err.message, true)); };
    decoder.once('verified', ok);
    decoder.once('error', bad);
  });
}

function drained(body: Readable): null {
  body.resume();
  return null;
}

/** Seals the reply: compress → encrypt → client, its first frame bound to the status and encoding. */
const startIngressReply: ResponseStart = (call, status, headers): BodySink => {
  const hop = call.hop!;
  if (!hasReplyBody(call, status)) {
    const out = responseHeaders(headers, false);
    out[HOP_REPLY_HEADER] = formatReply('n', emptyFrameTag(hop.reply(status, 'n')));
    call.res.writeHead(status, out);
    return call.res;
  }
  const enc = chooseEncoding(headers, hop.settings.compression, hop.settings.compressMinBytes);
  const seal = hop.reply(status, enc);
  const cl = headers['content-length'];
  const length = cl === undefined ? -1 : Number(cl);
  if (length >= 0 && length <= ONE_SHOT_MAX) return new WholeBodySink((plain) => endWholeReply(call, seal, status, headers, enc, length, plain));
  const out = responseHeaders(headers, true);
  out[HOP_REPLY_HEADER] = formatReply(enc, null);
  call.res.writeHead(status, out);
  // Uncompressed with a known length: the encoder marks the frame that completes it as the last one.
  const encoder = new FrameEncoder(seal, hop.settings.frameBytes, enc === 'n' ? length : -1);
  const zip = compressor(enc, length);
  if (zip === null) {
    chain([encoder, call.res], ignore);
    return encoder;
  }
  chain([zip, encoder, call.res], ignore);
  return zip;
};

/** A small reply gathered whole: compressed and sealed in one buffer, sent with its content-length. */
function endWholeReply(call: ServiceCall, seal: MessageSeal, status: number, headers: IncomingHttpHeaders, enc: HopEncoding, length: number, plain: Buffer): void {
  if (plain.length !== length) {
    call.cut = true;
    call.res.destroy(new Error('the service reply does not match its content-length'));
    return;
  }
  const wire = sealMessage(seal, enc === 'n' ? plain : compressOnce(enc, plain), call.hop!.settings.frameBytes);
  const out = responseHeaders(headers, true);
  out[HOP_REPLY_HEADER] = formatReply(enc, null);
  out['content-length'] = String(wire.length);
  call.res.writeHead(status, out);
  call.res.end(wire);
}

function ignore(): void {
  // A failed reply pipeline destroys the client response; the call records on close.
}
