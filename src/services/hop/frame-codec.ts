/**
 * AES-256-GCM framing of a hop body, so a streaming body is encrypted and
 * decrypted as it flows and never held whole.
 *
 *   frame = flags:u8 | length:u32be | ciphertext[length] | tag[16]
 *   flags bit 0 = last frame (always sent, possibly empty: a cut stream is detected)
 *
 * One key serves every message of an egress epoch (hop-epoch.ts); the 12-byte
 * IV is the message's 7-byte prefix (its 48-bit counter in the epoch and the
 * direction, request or reply) followed by a 40-bit frame counter, so no IV
 * is used twice under a key, and frames cannot be reordered, dropped or moved
 * to another message. Each frame's additional authenticated data is its flags
 * byte (the last-frame mark cannot be forged or stripped); frame 0's is the
 * flags byte followed by the message's binding (the signed fields of the hop
 * header, or the reply's status and encoding), so the first frame to
 * authenticate also authenticates the header it came with.
 */
import type { KeyObject } from 'node:crypto';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ByteQueue } from './byte-queue.ts';

const HEAD = 5;
const TAG = 16;
const LAST = 1;
/** Bytes a frame adds to its plaintext: the header and the tag. */
export const FRAME_OVERHEAD = HEAD + TAG;
/**
 * Largest first frame of a streamed body: the receiver buffers it before
 * anything is authenticated, so it is bounded like a small body.
 */
export const FIRST_FRAME_MAX = 64 * 1024;

/** Message directions: the IV byte that keeps a request's and its reply's IVs apart. */
export const REQUEST = 0;
export const REPLY = 1;

/** How one message (a request body or its reply) is sealed and opened. */
export class MessageSeal {
  readonly key: KeyObject;
  /** IV bytes 0..6: the message counter (48-bit) and the direction. */
  readonly ivPrefix: Buffer;
  /** Frame 0's additional data: a flags byte (set per use), then the binding. */
  readonly firstAad: Buffer;

  constructor(key: KeyObject, counter: number, direction: number, binding: string) {
    this.key = key;
    this.ivPrefix = Buffer.allocUnsafe(7);
    this.ivPrefix.writeUIntBE(counter, 0, 6);
    this.ivPrefix[6] = direction;
    const bytes = Buffer.byteLength(binding);
    this.firstAad = Buffer.allocUnsafe(1 + bytes);
    this.firstAad.write(binding, 1, bytes);
  }

  /** A fresh IV buffer with this message's prefix. */
  iv(): Buffer {
    const iv = Buffer.allocUnsafe(12);
    this.ivPrefix.copy(iv, 0);
    return iv;
  }

  /** The additional data of frame `counter` with `flags` (frame 0's includes the binding). */
  aad(counter: number, flags: number): Buffer {
    if (counter !== 0) return flags === LAST ? LAST_AAD : MORE_AAD;
    this.firstAad[0] = flags;
    return this.firstAad;
  }
}

const LAST_AAD = Buffer.of(LAST);
const MORE_AAD = Buffer.of(0);

/** An error of the hop body (bad tag, malformed frame, cut stream). `first`: nothing had authenticated yet. */
export class FrameError extends Error {
  readonly code = 'HOP_BAD_FRAME';
  readonly first: boolean;

  constructor(message: string, first = false) {
    super(message);
    this.first = first;
  }
}

/** Frames per message: the IV's frame counter has 40 bits (at least 1 PiB of body at the smallest frames). */
const MAX_FRAMES = 2 ** 40;

/** Sets the frame counter into bytes 7..11 of `iv`. */
function setCounter(iv: Buffer, counter: number): void {
  if (counter >= MAX_FRAMES) throw new FrameError('the message has more frames than its IVs can number');
  iv[7] = Math.floor(counter / 0x1_0000_0000);
  iv.writeUInt32BE(counter >>> 0, 8);
}

/** Writes frame number `counter` of `plain` into `out` at `at`; returns the offset after it. */
export function sealFrame(seal: MessageSeal, iv: Buffer, counter: number, plain: Buffer, last: boolean, out: Buffer, at: number): number {
  setCounter(iv, counter);
  const cipher = createCipheriv('aes-256-gcm', seal.key, iv);
  const flags = last ? LAST : 0;
  out[at] = flags;
  out.writeUInt32BE(plain.length, at + 1);
  cipher.setAAD(seal.aad(counter, flags));
  if (plain.length > 0) cipher.update(plain).copy(out, at + HEAD);
  cipher.final();
  cipher.getAuthTag().copy(out, at + HEAD + plain.length);
  return at + HEAD + plain.length + TAG;
}

/** The plaintext of frame number `counter` (`body` = ciphertext and tag); FrameError when it does not authenticate. */
export function openFrame(seal: MessageSeal, iv: Buffer, counter: number, flags: number, body: Buffer): Buffer {
  setCounter(iv, counter);
  const decipher = createDecipheriv('aes-256-gcm', seal.key, iv);
  decipher.setAAD(seal.aad(counter, flags));
  const ctLen = body.length - TAG;
  decipher.setAuthTag(body.subarray(ctLen));
  const plain = ctLen === 0 ? EMPTY : decipher.update(body.subarray(0, ctLen));
  try {
    decipher.final(); // throws on a bad tag, before the plaintext is used
  } catch {
    throw new FrameError(counter === 0 ? 'the hop header or its first frame failed authentication' : 'frame failed authentication', counter === 0);
  }
  return plain;
}

const EMPTY = Buffer.alloc(0);

/**
 * Encrypts a byte stream into frames of at most `frameBytes` plaintext bytes.
 * With the length known (`expectedBytes` ≥ 0), the frame that completes it
 * carries the last-frame mark, which saves the empty closing frame (one
 * AES-GCM operation on each side); bytes past that length fail the stream.
 */
export class FrameEncoder extends Transform {
  readonly #seal: MessageSeal;
  readonly #iv: Buffer;
  readonly #frameBytes: number;
  readonly #expected: number;
  #counter = 0;
  #sealedLast = false;
  /** Plaintext bytes encrypted so far. */
  plainBytes = 0;

  constructor(seal: MessageSeal, frameBytes: number, expectedBytes = -1) {
    super();
    this.#seal = seal;
    this.#iv = seal.iv();
    this.#frameBytes = frameBytes;
    this.#expected = expectedBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) return done();
    if (this.#sealedLast) return done(new FrameError('the body is longer than its declared length'));
    this.plainBytes += chunk.length;
    const complete = this.plainBytes === this.#expected;
    for (let off = 0; off < chunk.length;) {
      // The receiver holds frame 0 before anything authenticates: it is kept within FIRST_FRAME_MAX.
      const size = this.#counter === 0 ? Math.min(this.#frameBytes, FIRST_FRAME_MAX) : this.#frameBytes;
      const end = Math.min(chunk.length, off + size);
      this.push(this.#frame(chunk.subarray(off, end), complete && end === chunk.length ? LAST : 0));
      off = end;
    }
    if (complete) this.#sealedLast = true;
    done();
  }

  override _flush(done: TransformCallback): void {
    if (!this.#sealedLast) this.push(this.#frame(EMPTY, LAST));
    done();
  }

  #frame(plain: Buffer, flags: number): Buffer {
    const out = Buffer.allocUnsafe(HEAD + plain.length + TAG);
    sealFrame(this.#seal, this.#iv, this.#counter++, plain, flags === LAST, out, 0);
    return out;
  }
}

/**
 * Decrypts frames back into the byte stream. Emits 'verified' once the first
 * frame authenticates (with it the header it is bound to; nothing is
 * forwarded before), and fails with FrameError on a bad tag, an oversized
 * frame (frame 0: over FIRST_FRAME_MAX), data after the last frame, or an
 * end without the last frame.
 */
export class FrameDecoder extends Transform {
  readonly #seal: MessageSeal;
  readonly #iv: Buffer;
  readonly #maxFrame: number;
  #counter = 0;
  readonly #bytes = new ByteQueue();
  #need = HEAD;
  #flags = -1;
  #done = false;
  /** Plaintext bytes produced so far. */
  plainBytes = 0;

  constructor(seal: MessageSeal, maxFrameBytes: number) {
    super();
    this.#seal = seal;
    this.#iv = seal.iv();
    this.#maxFrame = maxFrameBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes.push(chunk);
    try {
      while (this.#bytes.length >= this.#need) {
        if (this.#done) throw new FrameError('data after the last frame');
        const bytes = this.#bytes.take(this.#need);
        if (this.#flags === -1) {
          this.#flags = bytes[0];
          const len = bytes.readUInt32BE(1);
          const max = this.#counter === 0 ? Math.min(this.#maxFrame, FIRST_FRAME_MAX) : this.#maxFrame;
          if ((this.#flags & ~LAST) !== 0 || len > max) throw new FrameError('malformed frame header', this.#counter === 0);
          this.#need = len + TAG;
        } else {
          this.#open(bytes);
          this.#flags = -1;
          this.#need = HEAD;
        }
      }
    } catch (err) {
      return done(err instanceof FrameError ? err : new FrameError('frame failed authentication', this.#counter === 0));
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    done(this.#done && this.#bytes.length === 0 ? null : new FrameError('the body ended before its last frame', this.#counter === 0));
  }

  #open(frame: Buffer): void {
    const flags = this.#flags;
    const plain = openFrame(this.#seal, this.#iv, this.#counter++, flags, frame);
    if (this.#counter === 1) this.emit('verified');
    if (plain.length > 0) {
      this.plainBytes += plain.length;
      this.push(plain);
    }
    if ((flags & LAST) !== 0) this.#done = true;
  }
}

