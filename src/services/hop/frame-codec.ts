/**
 * AES-256-GCM framing of a hop body, so a streaming body is encrypted and
 * decrypted as it flows and never held whole.
 *
 *   frame = flags:u8 | length:u32be | ciphertext[length] | tag[16]
 *   flags bit 0 = last frame (always sent, possibly empty: a cut stream is detected)
 *
 * Each message (a request body, or its reply) has its own key,
 * HKDF(linkKey.enc, salt = nonce, info = 'req' | 'res'), so request and reply
 * never share a key and no key is used for two messages. The frame IV is the
 * first 4 nonce bytes followed by a 64-bit frame counter: frames cannot be
 * reordered, dropped or replayed within a message. The flags byte is the
 * frame's additional authenticated data, so the last-frame mark cannot be
 * forged or stripped.
 */
import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const HEAD = 5;
const TAG = 16;
const LAST = 1;
/** Bytes a frame adds to its plaintext: the header and the tag. */
export const FRAME_OVERHEAD = HEAD + TAG;

/**
 * The key of one message direction, as a KeyObject: each frame's cipher is
 * then created without importing raw key bytes again (about 3× cheaper per frame).
 */
export function messageKey(encKey: KeyObject, nonce: Buffer, direction: 'req' | 'res'): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync('sha256', encKey, nonce, direction, 32)));
}

/** An error of the hop body (bad tag, malformed frame, cut stream). */
export class FrameError extends Error {
  readonly code = 'HOP_BAD_FRAME';
}

/** Sets the frame counter into bytes 4..11 of `iv` (the first 4 are the nonce's). */
function setCounter(iv: Buffer, counter: number): void {
  iv.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 4);
  iv.writeUInt32BE(counter >>> 0, 8);
}

/** Writes frame number `counter` of `plain` into `out` at `at`; returns the offset after it. */
export function sealFrame(key: KeyObject, iv: Buffer, counter: number, plain: Buffer, last: boolean, out: Buffer, at: number): number {
  setCounter(iv, counter);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const flags = last ? LAST : 0;
  out[at] = flags;
  out.writeUInt32BE(plain.length, at + 1);
  cipher.setAAD(out.subarray(at, at + 1));
  const ct = cipher.update(plain);
  ct.copy(out, at + HEAD);
  cipher.final();
  cipher.getAuthTag().copy(out, at + HEAD + plain.length);
  return at + HEAD + plain.length + TAG;
}

/** The plaintext of frame number `counter` (`body` = ciphertext and tag); FrameError when it does not authenticate. */
export function openFrame(key: KeyObject, iv: Buffer, counter: number, flags: number, body: Buffer): Buffer {
  setCounter(iv, counter);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.of(flags));
  const ctLen = body.length - TAG;
  decipher.setAuthTag(body.subarray(ctLen));
  const plain = decipher.update(body.subarray(0, ctLen));
  try {
    decipher.final(); // throws on a bad tag, before the plaintext is used
  } catch {
    throw new FrameError('frame failed authentication');
  }
  return plain;
}

/**
 * Encrypts a byte stream into frames of at most `frameBytes` plaintext bytes.
 * With the length known (`expectedBytes` ≥ 0), the frame that completes it
 * carries the last-frame mark, which saves the empty closing frame (one
 * AES-GCM operation on each side); bytes past that length fail the stream.
 */
export class FrameEncoder extends Transform {
  readonly #key: KeyObject;
  readonly #iv: Buffer;
  readonly #frameBytes: number;
  readonly #expected: number;
  #counter = 0;
  #sealedLast = false;
  /** Plaintext bytes encrypted so far. */
  plainBytes = 0;

  constructor(key: KeyObject, nonce: Buffer, frameBytes: number, expectedBytes = -1) {
    super();
    this.#key = key;
    this.#iv = Buffer.alloc(12);
    nonce.copy(this.#iv, 0, 0, 4);
    this.#frameBytes = frameBytes;
    this.#expected = expectedBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (chunk.length === 0) return done();
    if (this.#sealedLast) return done(new FrameError('the body is longer than its declared length'));
    this.plainBytes += chunk.length;
    const complete = this.plainBytes === this.#expected;
    for (let off = 0; off < chunk.length; off += this.#frameBytes) {
      const end = Math.min(chunk.length, off + this.#frameBytes);
      this.push(this.#seal(chunk.subarray(off, end), complete && end === chunk.length ? LAST : 0));
    }
    if (complete) this.#sealedLast = true;
    done();
  }

  override _flush(done: TransformCallback): void {
    if (!this.#sealedLast) this.push(this.#seal(Buffer.alloc(0), LAST));
    done();
  }

  #seal(plain: Buffer, flags: number): Buffer {
    const out = Buffer.allocUnsafe(HEAD + plain.length + TAG);
    sealFrame(this.#key, this.#iv, this.#counter++, plain, flags === LAST, out, 0);
    return out;
  }
}

/**
 * Decrypts frames back into the byte stream. Emits 'verified' once the first
 * frame authenticates (the ingress forwards nothing before), and fails with
 * FrameError on a bad tag, an oversized frame, data after the last frame, or
 * an end without the last frame.
 */
export class FrameDecoder extends Transform {
  readonly #key: KeyObject;
  readonly #iv: Buffer;
  readonly #maxFrame: number;
  #counter = 0;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = HEAD;
  #flags = -1;
  #done = false;
  /** Plaintext bytes produced so far. */
  plainBytes = 0;

  constructor(key: KeyObject, nonce: Buffer, maxFrameBytes: number) {
    super();
    this.#key = key;
    this.#iv = Buffer.alloc(12);
    nonce.copy(this.#iv, 0, 0, 4);
    this.#maxFrame = maxFrameBytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    try {
      while (this.#buffered >= this.#need) {
        if (this.#done) throw new FrameError('data after the last frame');
        const bytes = this.#take(this.#need);
        if (this.#flags === -1) {
          this.#flags = bytes[0];
          const len = bytes.readUInt32BE(1);
          if ((this.#flags & ~LAST) !== 0 || len > this.#maxFrame) throw new FrameError('malformed frame header');
          this.#need = len + TAG;
        } else {
          this.#open(bytes);
          this.#flags = -1;
          this.#need = HEAD;
        }
      }
    } catch (err) {
      return done(err instanceof FrameError ? err : new FrameError('frame failed authentication'));
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    done(this.#done && this.#buffered === 0 ? null : new FrameError('the body ended before its last frame'));
  }

  #open(frame: Buffer): void {
    const flags = this.#flags;
    const plain = openFrame(this.#key, this.#iv, this.#counter++, flags, frame);
    if (this.#counter === 1) this.emit('verified');
    if (plain.length > 0) {
      this.plainBytes += plain.length;
      this.push(plain);
    }
    if ((flags & LAST) !== 0) this.#done = true;
  }

  /** Removes and returns the first `n` buffered bytes (one copy only when they span chunks). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    return out;
  }
}
