/**
 * A whole hop message (a small body of known length) sealed into, or opened
 * from, one buffer: the same frames FrameEncoder and FrameDecoder stream, with
 * the last-frame mark on the frame that completes the body (one empty last
 * frame for an empty body), built with a few Buffer operations. A body that
 * is held whole anyway (at most ONE_SHOT_MAX bytes) then costs no Transform
 * streams, no pipes and, sent with a content-length, no chunked framing: under
 * load those were most of the hop's per-call CPU beside the crypto itself.
 */
import type { KeyObject } from 'node:crypto';
import { FrameError, FRAME_OVERHEAD, openFrame, sealFrame } from './frame-codec.ts';
import { compressedBound } from './one-shot-codec.ts';

/** The frames of `plain`, at most `frameBytes` plaintext bytes each, in one buffer. */
export function sealMessage(key: KeyObject, nonce: Buffer, plain: Buffer, frameBytes: number): Buffer {
  const frames = Math.max(1, Math.ceil(plain.length / frameBytes));
  const out = Buffer.allocUnsafe(plain.length + frames * FRAME_OVERHEAD);
  const iv = Buffer.alloc(12);
  nonce.copy(iv, 0, 0, 4);
  let at = 0;
  for (let i = 0; i < frames; i++) {
    const start = i * frameBytes;
    const end = Math.min(plain.length, start + frameBytes);
    at = sealFrame(key, iv, i, plain.subarray(start, end), i === frames - 1, out, at);
  }
  return out;
}

/**
 * The plaintext of a whole sealed message; throws FrameError on a bad tag, a
 * malformed or oversized frame, bytes after the last frame, or no last frame.
 */
export function openMessage(key: KeyObject, nonce: Buffer, wire: Buffer, maxFrameBytes: number): Buffer {
  const iv = Buffer.alloc(12);
  nonce.copy(iv, 0, 0, 4);
  const parts: Buffer[] = [];
  let plainBytes = 0;
  let at = 0;
  for (let counter = 0; ; counter++) {
    if (wire.length - at < FRAME_OVERHEAD) throw new FrameError('the body ended before its last frame');
    const flags = wire[at];
    const len = wire.readUInt32BE(at + 1);
    if (len > maxFrameBytes || (flags & ~1) !== 0) throw new FrameError('malformed frame header');
    const end = at + FRAME_OVERHEAD + len;
    if (end > wire.length) throw new FrameError('the body ended before its last frame');
    const plain = openFrame(key, iv, counter, flags, wire.subarray(at + 5, end));
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
