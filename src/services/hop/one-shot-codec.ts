/**
 * Compression of a small body of known length in one synchronous call: the
 * body is gathered (at most ONE_SHOT_MAX bytes), then compressed or
 * decompressed at once. A zlib stream per body costs a context sized for any
 * stream and a thread-pool round trip per chunk; for a few KiB that is 3–5×
 * the CPU of the one-shot call.
 *
 * LZ4 ('l', the default) exists for these bodies only: node:zlib builds a new
 * stream object and context for every one-shot call (about 35 µs to compress
 * and 20 µs to decompress 2 KiB with zstd, several times that under load),
 * while an LZ4 block (lz4-napi, a native binding with prebuilt binaries) takes
 * 2–5 µs each way, at a lower ratio. The block carries its plaintext length
 * as a 4-byte little-endian prefix, checked against the signed length before
 * anything is allocated.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { constants, gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import type { HopEncoding } from './hop-header.ts';

/** Largest body (plaintext) handled in one shot. */
export const ONE_SHOT_MAX = 64 * 1024;

/** An error of a one-shot body (longer than declared, or not decompressing to its declared length). */
export class OneShotError extends Error {
  readonly code = 'HOP_BAD_BODY';
}

/** A whole body compressed in one call ('z' or 'g'). */
export function compressOnce(enc: HopEncoding, all: Buffer): Buffer {
  if (enc === 'l') return lz4Compress(all);
  // The whole input is given at once, so zstd sizes its tables to it without a pledged size.
  if (enc === 'z') return zstdCompressSync(all, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
  return gzipSync(all, { level: 1 });
}

/**
 * A whole body decompressed in one call: its output is capped at `length`
 * (no decompression bomb) and must reach it; OneShotError otherwise.
 * `length` -1: not signed (a reply), capped at ONE_SHOT_MAX.
 */
export function decompressOnce(enc: HopEncoding, all: Buffer, length: number): Buffer {
  let out: Buffer;
  try {
    if (enc === 'l') out = lz4Block(all, length);
    else {
      const options = { maxOutputLength: Math.max(1, length < 0 ? ONE_SHOT_MAX : length) };
      out = enc === 'z' ? zstdDecompressSync(all, options) : gunzipSync(all, options);
    }
  } catch (err) {
    if (err instanceof OneShotError) throw err;
    throw new OneShotError(`the body does not decompress: ${(err as Error).message}`);
  }
  if (length >= 0 && out.length !== length) throw new OneShotError(`the body decompresses to ${out.length} bytes, not the declared ${length}`);
  return out;
}

/** An LZ4 block whose length prefix is checked (the signed length, or at most ONE_SHOT_MAX) before it is decoded. */
function lz4Block(all: Buffer, length: number): Buffer {
  if (all.length < 4) throw new OneShotError('the body is not an LZ4 block');
  const prefix = all.readUInt32LE(0);
  if (length >= 0 ? prefix !== length : prefix > ONE_SHOT_MAX) throw new OneShotError(`the LZ4 block declares ${prefix} bytes, not the declared ${length}`);
  return lz4Uncompress(all);
}

/** The largest compressed form of `length` bytes accepted: both formats stay under length + 1/128 + a small header. */
export function compressedBound(length: number): number {
  return length + (length >> 7) + 1024;
}

abstract class Gather extends Transform {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(limit: number) {
    super();
    this.#limit = limit;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) return done(new OneShotError('the body is longer than its declared length'));
    this.#chunks.push(chunk);
    done();
  }

  override _flush(done: TransformCallback): void {
    let out: Buffer;
    try {
      out = this.convert(this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks, this.#bytes));
    } catch (err) {
      return done(err as Error);
    }
    this.#chunks = [];
    if (out.length > 0) this.push(out);
    done();
  }

  protected abstract convert(all: Buffer): Buffer;
}

/** Compresses a body of exactly `length` bytes. */
export class OneShotCompressor extends Gather {
  readonly #enc: HopEncoding;

  /** `length` -1 (an LZ4 body of unsigned length): at most ONE_SHOT_MAX bytes. */
  constructor(enc: HopEncoding, length: number) {
    super(length < 0 ? ONE_SHOT_MAX : length);
    this.#enc = enc;
  }

  protected convert(all: Buffer): Buffer {
    return compressOnce(this.#enc, all);
  }
}

/**
 * Decompresses a body whose plaintext is `length` bytes: its compressed form
 * may not exceed what the compressor can produce for that length, and its
 * output is capped at `length` (no decompression bomb) and must reach it.
 */
export class OneShotDecompressor extends Gather {
  readonly #enc: HopEncoding;
  readonly #length: number;

  constructor(enc: HopEncoding, length: number) {
    super(compressedBound(length < 0 ? ONE_SHOT_MAX : length));
    this.#enc = enc;
    this.#length = length;
  }

  protected convert(all: Buffer): Buffer {
    return decompressOnce(this.#enc, all, this.#length);
  }
}
