/**
 * A whole hop message (a small body of known length) sealed into, or opened
 * from, one buffer: the same frames FrameEncoder and FrameDecoder stream, with
 * the last-frame mark on the frame that completes the body (one empty last
 * frame for an empty body), built with a few Buffer operations. A body that
 * is held whole anyway (at most ONE_SHOT_MAX bytes) then costs no Transform
 * streams, no pipes and, sent with a content-length, no chunked framing: under
 * load those were most of the hop's per-call CPU beside the crypto itself.
 */
import { FrameError, FRAME_OVERHEAD, openFrame, sealFrame, type MessageSeal } from './frame-codec.ts';
import { compressedBound } from './one-shot-codec.ts';

/** The frames of `plain`, at most `frameBytes` plaintext bytes each, in one buffer. */
export function sealMessage(seal: MessageSeal, plain: Buffer, frameBytes: number): Buffer {
  const frames = Math.max(1, Math.ceil(plain.length / frameBytes));
  const out = Buffer.allocUnsafe(plain.length + frames * FRAME_OVERHEAD);
  const iv = seal.iv();
  let at = 0;
  for (let i = 0; i < frames; i++) {
    const start = i * frameBytes;
    const end = Math.min(plain.length, start + frameBytes);
    at = sealFrame(seal, iv, i, plain.subarray(start, end), i === frames - 1, out, at);
  }
  return out;
}

/**
 * The plaintext of a whole sealed message; throws FrameError on a bad tag, a
 * malformed or oversized frame, bytes after the last frame, or no last frame
 * (`first` set when no frame had authenticated: the header is not trusted).
 */
export function openMessage(seal: MessageSeal, wire: Buffer, maxFrameBytes: number): Buffer {
  const iv = seal.iv();
  const parts: Buffer[] = [];
  let plainBytes = 0;
  let at = 0;
  for (let counter = 0; ; counter++) {
    if (wire.length - at < FRAME_OVERHEAD) throw new FrameError('the body ended before its last frame', counter === 0);
    const flags = wire[at];
    const len = wire.readUInt32BE(at + 1);
    if (len > maxFrameBytes || (flags & ~1) !== 0) throw new FrameError('malformed frame header', counter === 0);
    const end = at + FRAME_OVERHEAD + len;
    if (end > wire.length) throw new FrameError('the body ended before its last frame', counter === 0);
    const plain = openFrame(seal, iv, counter, flags, wire.subarray(at + 5, end));
    parts.push(plain);
    plainBytes += plain.length;
    at = end;
    if ((flags & 1) !== 0) break;
  }
  if (at !== wire.length) throw new FrameError('data after the last frame');
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, plainBytes);
}

/** The largest sealed form of a body of `length` plaintext bytes sent whole: compressed, in frames of at least 1 KiB. */
export function sealedBound(length: number): number {
  const wire = compressedBound(length);
  return wire + Math.ceil(Math.max(1, wire) / 1024) * FRAME_OVERHEAD;
}

/** The tag of an empty last frame: what a reply without a body (HEAD, 204, 304) carries in its header. */
export function emptyFrameTag(seal: MessageSeal): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_OVERHEAD);
  sealFrame(seal, seal.iv(), 0, EMPTY, true, frame, 0);
  return frame.subarray(FRAME_OVERHEAD - 16);
}

/** Whether `tag` is the tag of an empty last frame of this message. */
export function emptyFrameTagValid(seal: MessageSeal, tag: Buffer): boolean {
  try {
    openFrame(seal, seal.iv(), 0, 1, tag);
    return true;
  } catch (err) {
    if (err instanceof FrameError) return false;
    throw err;
  }
}

const EMPTY = Buffer.alloc(0);
