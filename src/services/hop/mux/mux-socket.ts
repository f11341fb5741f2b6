/**
 * The multiplexed hop connection: one TCP connection between an egress and
 * an ingress node (opened as an HTTP upgrade on the ingress's own port) that
 * carries many hop calls at once as typed frames:
 *
 *   frame = type:u8 | stream:u32be | length:u32be | payload[length]
 *
 * Why not one HTTP/1.1 request per call: on this path the second HTTP leg
 * (an undici request on the egress, a node:http request on the ingress) and
 * its two syscalls per call each way were the largest cost after the crypto.
 * Here frames of every call written in one event-loop turn leave in one
 * writev, and the parser is a few Buffer reads. The frames carry exactly what
 * the HTTP leg did (method, path, headers, the sealed body, the reply head
 * and body); authentication stays in the sealed messages (hop-header.ts), so
 * the connection itself is trusted with nothing.
 *
 * Hand-written rather than HTTP/2: node:http2 costs more CPU per stream than
 * HTTP/1.1 does, and the hop needs only these six frame types.
 */
import type { Socket } from 'node:net';
import { ByteQueue } from '../byte-queue.ts';

/** Frame types. */
export const FrameType = {
  /** egress → ingress: headLength:u32be | head JSON { m, p, h } | sealed body */
  Request: 1,
  /** ingress → egress: status:u16be | headers JSON */
  Head: 2,
  /** ingress → egress: reply body bytes (within the stream's window) */
  Data: 3,
  /** ingress → egress: the reply is complete */
  End: 4,
  /** either way: the stream is abandoned (reason in UTF-8) */
  Reset: 5,
  /** egress → ingress: credit:u32be, reply bytes the egress passed on to its client */
  Window: 6,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const HEADER = 9;
/** Largest frame accepted: a request is a sealed body of at most 64 KiB plus its head. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;
/** Reply bytes an ingress may send on a stream before the egress grants more. */
export const INITIAL_WINDOW = 256 * 1024;

export type FrameHandler = (type: FrameType, stream: number, payload: Buffer) => void;

export class MuxSocket {
  readonly socket: Socket;
  readonly #onFrame: FrameHandler;
  #out: Buffer[] = [];
  #flushScheduled = false;
  readonly #in = new ByteQueue();
  readonly #flush = () => this.#writeOut();

  constructor(socket: Socket, head: Buffer, onFrame: FrameHandler, onClose: (err: Error) => void) {
    this.socket = socket;
    this.#onFrame = onFrame;
    socket.setNoDelay(true);
    // A peer gone without a FIN (a dead path between the nodes) is found by TCP keep-alive probes.
    socket.setKeepAlive(true, 15_000);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', () => { /* 'close' follows */ });
    socket.once('close', () => onClose(new Error('the hop connection closed')));
    if (head.length > 0) this.#read(head);
  }

  /** Queues a frame; every frame queued in this event-loop turn leaves in one write. */
  send(type: FrameType, stream: number, payload: Buffer | null, extra: Buffer | null = null): void {
    const length = (payload?.length ?? 0) + (extra?.length ?? 0);
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = type;
    header.writeUInt32BE(stream, 1);
    header.writeUInt32BE(length, 5);
    this.#out.push(header);
    if (payload !== null && payload.length > 0) this.#out.push(payload);
    if (extra !== null && extra.length > 0) this.#out.push(extra);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #writeOut(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    this.#out = [];
    if (this.socket.destroyed || out.length === 0) return;
    this.socket.cork();
    for (const b of out) this.socket.write(b);
    this.socket.uncork();
  }

  #read(chunk: Buffer): void {
    this.#in.push(chunk);
    while (this.#in.length >= HEADER) {
      const head = this.#in.peek(HEADER);
      const type = head[0] as FrameType;
      const stream = head.readUInt32BE(1);
      const length = head.readUInt32BE(5);
      if (length > MAX_FRAME_PAYLOAD) {
        this.socket.destroy(new Error('hop frame too large'));
        return;
      }
      if (this.#in.length < HEADER + length) return;
      this.#in.take(HEADER);
      const payload = length === 0 ? EMPTY : this.#in.take(length);
      try {
        this.#onFrame(type, stream, payload);
      } catch (err) {
        // A frame that does not parse (or a handler that throws on it) ends the connection, not the process.
        this.socket.destroy(err as Error);
        return;
      }
      if (this.socket.destroyed) return;
    }
  }
}

const EMPTY = Buffer.alloc(0);
