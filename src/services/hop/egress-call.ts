/**
 * The egress side of the secure hop: a call to a service marked remote is
 * sent to the ingress node with a signed header, its body compressed (when
 * worth it) and encrypted frame by frame as it streams; the reply is
 * verified, decrypted and decompressed on its way to the client.
 *
 * A reply without a hop reply header is an error the ingress answered before
 * it trusted the request (bad signature, replay, ...): it is relayed as is.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { hasBody, requestHeaders, responseHeaders } from '../forward-headers.ts';
import { DEADLINE_HEADER, effectiveTimeout, NO_DEADLINE } from '../deadline.ts';
import type { BodySink, ResponseStart, ServiceCall } from '../service-call.ts';
import { ServiceErrors } from '../service-errors.ts';
import type { ServiceParts } from '../service-parts.ts';
import { chooseEncoding, compressor, decompressor } from './body-compression.ts';
import { FrameDecoder, FrameEncoder, FrameError } from './frame-codec.ts';
import { HOP_HEADER, HOP_REPLY_HEADER, newNonce, signRequest, verifyReply, type HopEncoding } from './hop-header.ts';
import { HopState } from './hop-state.ts';
import { compressOnce, decompressOnce, ONE_SHOT_MAX, OneShotError } from './one-shot-codec.ts';
import { openMessage, sealedBound, sealMessage } from './sealed-message.ts';
import { chain } from './stream-chain.ts';
import { hasReplyBody, readWhole, WholeBodySink } from './whole-body.ts';

/** Largest frame accepted from the ingress (its frameBytes may differ from ours). */
const MAX_FRAME = 16 * 1024 * 1024;

/** Forwards `call` (caller known, service remote) to the ingress; `fullPath` is /svc/<service>/... with the query. */
export async function forwardToIngress(r: ServiceParts, call: ServiceCall, fullPath: string): Promise<void> {
  const link = r.egress;
  if (link === null) return call.fail(ServiceErrors.noEgress);
  const now = Date.now();
  const timeoutMs = effectiveTimeout(call.entry!.timeoutMs, call.deadline, now);
  if (timeoutMs <= 0) return call.fail(ServiceErrors.deadlineExceeded);
  const req = call.req;
  const body = hasBody(req.headers);
  const cl = req.headers['content-length'];
  const len = !body ? 0 : cl !== undefined ? Number(cl) : -1;
  const enc = body ? chooseEncoding(req.headers, r.hop.compression, r.hop.compressMinBytes) : 'n';
  const hop = new HopState(link.key, newNonce(), r.hop);
  call.hop = hop;
  call.bytesIn = len;
  const headers = requestHeaders(req.headers, call.userId, true);
  headers[HOP_HEADER] = signRequest(link.key, hop.nonce, now, call.deadline, enc, call.userId, len, call.method, fullPath);
  if (call.deadline !== NO_DEADLINE) headers[DEADLINE_HEADER] = String(call.deadline);
  call.onStart = startEgressReply;
  call.arm(timeoutMs);
  const send = (wire: Readable | Buffer): void => {
    r.agent.dispatch({ origin: link.origin, path: link.basePath + fullPath, method: call.method as 'GET', headers, body: wire }, call);
  };
  // A small body of known length is held whole by the one-shot compression anyway: sealed in one buffer.
  if (!body) return send(sealMessage(hop.requestKey(), hop.nonceBytes, EMPTY, r.hop.frameBytes));
  if (len >= 0 && len <= ONE_SHOT_MAX) {
    const plain = await readWhole(req);
    if (plain === null || call.ended) return; // the client left: the call records on close
    return send(sealMessage(hop.requestKey(), hop.nonceBytes, enc === 'n' ? plain : compressOnce(enc, plain), r.hop.frameBytes));
  }
  // Uncompressed with a known length: the encoder marks the frame that completes it as the last one.
  const encoder = new FrameEncoder(hop.requestKey(), hop.nonceBytes, r.hop.frameBytes, enc === 'n' ? len : -1);
  const zip = compressor(enc, len);
  chain(zip === null ? [req, encoder] : [req, zip, encoder], ignore);
  send(encoder);
}

const EMPTY = Buffer.alloc(0);

/** Verifies the reply header and sets up decrypt → decompress → client. */
const startEgressReply: ResponseStart = (call, status, headers): BodySink => {
  const hop = call.hop!;
  const replyHeader = headers[HOP_REPLY_HEADER];
  if (replyHeader === undefined) {
    call.res.writeHead(status, responseHeaders(headers, false));
    return call.res;
  }
  const enc = verifyReply(hop.key, hop.nonce, status, replyHeader);
  if (enc === null) {
    call.fail(ServiceErrors.hopBadSignature, 'The ingress reply signature does not verify.');
    call.status = 502;
    call.abort('bad reply signature');
    return call.res;
  }
  const cl = headers['content-length'];
  const wireLength = cl === undefined ? -1 : Number(cl);
  // A reply with a content-length was sealed whole by the ingress (at most ONE_SHOT_MAX plaintext bytes):
  // opened and decompressed whole, sent with its content-length.
  if (wireLength >= 0 && wireLength <= sealedBound(ONE_SHOT_MAX) && hasReplyBody(call, status)) {
    return new WholeBodySink((wire) => endWholeReply(call, hop, status, headers, enc, wire));
  }
  call.res.writeHead(status, responseHeaders(headers, true));
  const decoder = new FrameDecoder(hop.replyKey(), hop.nonceBytes, MAX_FRAME);
  const unzip = decompressor(enc, -1);
  chain(unzip === null ? [decoder, call.res] : [decoder, unzip, call.res], onReplyDone);
  return decoder;
};

function endWholeReply(call: ServiceCall, hop: HopState, status: number, headers: IncomingHttpHeaders, enc: HopEncoding, wire: Buffer): void {
  let plain: Buffer;
  try {
    const body = openMessage(hop.replyKey(), hop.nonceBytes, wire, MAX_FRAME);
    plain = enc === 'n' ? body : decompressOnce(enc, body, -1);
  } catch (err) {
    if (!(err instanceof FrameError || err instanceof OneShotError)) throw err;
    return call.fail(ServiceErrors.upstreamFailed, 'The ingress reply failed authentication or does not decompress.');
  }
  const out = responseHeaders(headers, true);
  out['content-length'] = String(plain.length);
  call.res.writeHead(status, out);
  call.res.end(plain);
}

function ignore(): void {
  // Errors of the request body surface through the dispatch (undici aborts the request).
}

function onReplyDone(): void {
  // A bad frame or a cut reply destroys the client response (the client sees a truncated body); the call records on close.
}
