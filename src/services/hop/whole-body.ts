/**
 * Small bodies of known length gathered whole (at most ONE_SHOT_MAX bytes,
 * which the one-shot compression holds whole anyway), so a hop message can be
 * sealed or opened with plain Buffer operations instead of a chain of streams.
 */
import type { Readable } from 'node:stream';
import type { BodySink, ServiceCall } from '../service-call.ts';

/** Whether a reply carries the body its content-length announces (not so for HEAD, 204 and 304). */
export function hasReplyBody(call: ServiceCall, status: number): boolean {
  return call.method !== 'HEAD' && status !== 204 && status !== 304;
}

/** Reads `stream` to its end: its bytes, or null when it failed or closed first. */
export function readWhole(stream: Readable): Promise<Buffer | null> {
  return new Promise((resolve) => gather(stream, resolve));
}

function gather(stream: Readable, done: (body: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    bytes += chunk.length;
  });
  stream.once('end', () => {
    ended = true;
    done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, bytes));
  });
  // The error itself surfaces as the client response closing; 'close' follows it.
  stream.on('error', ignore);
  stream.once('close', () => {
    if (!ended) done(null);
  });
}

function ignore(): void {
  // See the 'close' listener.
}

/** A response sink that keeps the body and hands it over whole at its end (never destroyed halfway: dropped). */
export class WholeBodySink implements BodySink {
  readonly #onEnd: (body: Buffer) => void;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #dropped = false;

  constructor(onEnd: (body: Buffer) => void) {
    this.#onEnd = onEnd;
  }

  write(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    return true; // bounded by the content-length checked before: no backpressure needed
  }

  end(): void {
    if (this.#dropped) return;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#onEnd(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#bytes));
  }

  destroy(): void {
    this.#dropped = true;
    this.#chunks = [];
  }

  on(): this {
    return this; // write never asks to wait, so 'drain' never comes
  }
}
