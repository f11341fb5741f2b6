/**
 * The egress side of the secure hop: a call to a service marked remote is
 * sent to the ingress node with a hop header, its body compressed (when
 * worth it) and encrypted frame by frame as it streams, the first frame bound
 * to the header; the reply is authenticated, decrypted and decompressed on
 * its way to the client, and its head is written only once its first frame
 * (or, without a body, its header tag) authenticated.
 *
 * A reply without a hop reply header is an error the ingress answered before
 * it trusted the request (unknown key, replay, ...): it is relayed as is.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { hasBody, requestHeaders, responseHeaders } from '../forward-headers.ts';
import { DEADLINE_HEADER, effectiveTimeout, NO_DEADLINE } from '../deadline.ts';
import type { BodySink, ResponseStart, ServiceCall } from '../service-call.ts';
import { ServiceErrors } from '../service-errors.ts';
import type { ServiceParts } from '../service-parts.ts';
import { chooseEncoding, compressor, decompressor } from './body-compression.ts';
import { FrameDecoder, FrameEncoder, FrameError, type MessageSeal } from './frame-codec.ts';
import { formatRequest, HOP_HEADER, HOP_REPLY_HEADER, parseReply, requestBinding, type HopEncoding } from './hop-header.ts';
import { HopState } from './hop-state.ts';
import { compressOnce, decompressOnce, ONE_SHOT_MAX, OneShotError } from './one-shot-codec.ts';
import { emptyFrameTagValid, openMessage, sealedBound, sealMessage } from './sealed-message.ts';
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
  const counter = link.epochs.take();
  const epoch = link.epochs.current;
  const hopHeader = formatRequest(link.key.id, epoch.id, counter, now, call.deadline, enc, call.userId, len);
  const hop = new HopState(epoch.key, counter, r.hop);
  const seal = hop.request(requestBinding(hopHeader, call.method, fullPath));
  call.hop = hop;
  call.bytesIn = len;
  const headers = requestHeaders(req.headers, call.userId, true);
  headers[HOP_HEADER] = hopHeader;
  if (call.deadline !== NO_DEADLINE) headers[DEADLINE_HEADER] = String(call.deadline);
  call.onStart = startEgressReply;
  call.arm(timeoutMs);
  const send = (wire: Readable | Buffer): void => {
    // A body held whole rides the multiplexed connection when there is one; a stream is an HTTP request of its own.
    if (link.mux !== null && Buffer.isBuffer(wire)) return link.mux.dispatch(call.method, link.basePath + fullPath, headers, wire, call);
    r.agent.dispatch({ origin: link.origin, path: link.basePath + fullPath, method: call.method as 'GET', headers, body: wire }, call);
  };
  // No body: one empty last frame, which authenticates the header.
  if (!body) return send(sealMessage(seal, EMPTY, r.hop.frameBytes));
  // A small body of known length is held whole by the one-shot compression anyway: sealed in one buffer.
  if (len >= 0 && len <= ONE_SHOT_MAX) {
    const plain = await readWhole(req);
    if (plain === null || call.ended) return; // the client left: the call records on close
    return send(sealMessage(seal, enc === 'n' ? plain : compressOnce(enc, plain), r.hop.frameBytes));
  }
  // Uncompressed with a known length: the encoder marks the frame that completes it as the last one.
  const encoder = new FrameEncoder(seal, r.hop.frameBytes, enc === 'n' ? len : -1);
  const zip = compressor(enc, len);
  chain(zip === null ? [req, encoder] : [req, zip, encoder], ignore);
  send(encoder);
}

const EMPTY = Buffer.alloc(0);

/** Authenticates the reply and sets up decrypt → decompress → client. */
const startEgressReply: ResponseStart = (call, status, headers): BodySink | null => {
  const replyHeader = headers[HOP_REPLY_HEADER];
  if (replyHeader === undefined) {
    call.res.writeHead(status, responseHeaders(headers, false));
    return call.res;
  }
  const reply = parseReply(replyHeader);
  if (reply === null) return badReply(call, 'The ingress reply header is malformed.');
  const seal = call.hop!.reply(status, reply.enc);
  if (!hasReplyBody(call, status)) {
    if (reply.tag === null || !emptyFrameTagValid(seal, reply.tag)) return badReply(call, 'The ingress reply does not authenticate.');
    call.res.writeHead(status, responseHeaders(headers, false));
    return call.res;
  }
  const cl = headers['content-length'];
  const wireLength = cl === undefined ? -1 : Number(cl);
  // A reply with a content-length was sealed whole by the ingress (at most ONE_SHOT_MAX plaintext bytes):
  // opened and decompressed whole, sent with its content-length.
  if (wireLength >= 0 && wireLength <= sealedBound(ONE_SHOT_MAX)) {
    return new WholeBodySink((wire) => endWholeReply(call, seal, status, headers, reply.enc, wire));
  }
  return streamReply(call, seal, status, headers, reply.enc);
};

/** A reply the egress cannot trust: 502 to the client, the upstream request aborted. */
function badReply(call: ServiceCall, message: string): null {
  call.fail(ServiceErrors.hopBadReply, message);
  call.abort('bad hop reply');
  return null;
}

function endWholeReply(call: ServiceCall, seal: MessageSeal, status: number, headers: IncomingHttpHeaders, enc: HopEncoding, wire: Buffer): void {
  let plain: Buffer;
  try {
    const body = openMessage(seal, wire, MAX_FRAME);
    plain = enc === 'n' ? body : decompressOnce(enc, body, -1);
  } catch (err) {
    if (!(err instanceof FrameError || err instanceof OneShotError)) throw err;
    return call.fail(ServiceErrors.hopBadReply, 'The ingress reply failed authentication or does not decompress.');
  }
  const out = responseHeaders(headers, true);
  out['content-length'] = String(plain.length);
  call.res.writeHead(status, out);
  call.res.end(plain);
}

/**
 * A streamed reply: frames are decrypted as they come; the head goes to the
 * client once the first frame authenticated (a reply failing before that is
 * a 502, after it a cut body).
 */
function streamReply(call: ServiceCall, seal: MessageSeal, status: number, headers: IncomingHttpHeaders, enc: HopEncoding): BodySink {
  const decoder = new FrameDecoder(seal, MAX_FRAME);
  const unzip = decompressor(enc, -1);
  const plain = unzip ?? decoder;
  decoder.once('verified', () => {
    call.res.writeHead(status, responseHeaders(headers, true));
    plain.pipe(call.res);
  });
  chain(unzip === null ? [decoder] : [decoder, unzip], (err) => {
    if (call.res.writableEnded) return; // already answered (an upstream failure before any reply byte)
    if (call.res.headersSent) {
      call.cut = true;
      call.res.destroy(err);
    } else {
      call.fail(ServiceErrors.hopBadReply);
      call.abort('bad hop reply');
    }
  });
  call.res.once('close', () => decoder.destroy());
  return decoder;
}

function ignore(): void {
  // Errors of the request body surface through the dispatch (undici aborts the request).
}
