/**
 * Whether and how a hop body is compressed. Skipped for small bodies (by
 * content-length), bodies with a content-encoding, media and archive types
 * that are compressed already, and event streams (a compressor holds bytes
 * back until its buffer fills, which would stall a stream). With 'lz4', a
 * body held whole (known length up to ONE_SHOT_MAX) is one LZ4 block and a
 * longer or unsized one a zstd stream: LZ4 is there to make small bodies
 * cheap, and a long body pays a stream's setup only once.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { HopEncoding } from './hop-header.ts';
import { ONE_SHOT_MAX, OneShotCompressor, OneShotDecompressor } from './one-shot-codec.ts';

const COMPRESSED_TYPE = /^(image|video|audio)\/|^application\/(zip|gzip|x-gzip|zstd|x-7z-compressed|x-bzip2|x-xz|pdf)|^text\/event-stream/;

/** The encoding to use for a body with these headers. */
export function chooseEncoding(headers: IncomingHttpHeaders, preferred: HopCompression, minBytes: number): HopEncoding {
  if (preferred === 'none') return 'n';
  const ce = headers['content-encoding'];
  if (ce !== undefined && ce !== 'identity') return 'n';
  const cl = headers['content-length'];
  const length = cl === undefined ? -1 : Number(cl);
  if (length >= 0 && length < minBytes) return 'n';
  const type = headers['content-type'];
  if (type !== undefined && COMPRESSED_TYPE.test(type)) return 'n';
  if (preferred === 'lz4') return length >= 0 && length <= ONE_SHOT_MAX ? 'l' : 'z';
  return preferred === 'zstd' ? 'z' : 'g';
}

/** `services.hop.compression`. */
export type HopCompression = 'lz4' | 'zstd' | 'gzip' | 'none';

/**
 * A compressor for the encoding, or null for 'n'. Level 1: the hop is
 * CPU-bound, not bandwidth-bound. `length` is the body's content-length
 * (-1: unknown): a small body is compressed in one shot; a larger one streams,
 * and zstd then sizes its context to the body instead of for an unbounded
 * stream (about 4× cheaper per body when many are in flight).
 */
export function compressor(enc: HopEncoding, length: number): Transform | null {
  if (enc === 'n') return null;
  if ((length > 0 && length <= ONE_SHOT_MAX) || enc === 'l') return new OneShotCompressor(enc, length);
  if (enc === 'z') {
    const params = { [constants.ZSTD_c_compressionLevel]: 1 };
    return createZstdCompress(length >= 0 ? { pledgedSrcSize: length, params } : { params });
  }
  return createGzip({ level: 1 });
}

/** A decompressor for the encoding, or null for 'n'; `length` is the plaintext length when known (-1: not). */
export function decompressor(enc: HopEncoding, length: number): Transform | null {
  if (enc === 'n') return null;
  // An LZ4 body is always one block (at most ONE_SHOT_MAX bytes, its length in its prefix).
  if ((length >= 0 && length <= ONE_SHOT_MAX) || enc === 'l') return new OneShotDecompressor(enc, length);
  return enc === 'z' ? createZstdDecompress() : createGunzip();
}
