/**
 * The ingress end of the multiplexed hop (mux-socket.ts). Each Request frame
 * becomes a ServiceCall exactly as an HTTP hop request does: a request object
 * with the method, path and headers the egress sent, and, as the response, a
 * MuxReply, a Writable that turns writeHead/write/end into Head, Data and End
 * frames. Reply bytes are sent only within the stream's window (credit from
 * the egress's Window frames): a slow client at the egress pauses this call's
 * upstream, not the connection. A Reset from the egress destroys the reply,
 * which aborts the call's upstream as a closed client connection does.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { FrameType, INITIAL_WINDOW, MuxSocket } from './mux-socket.ts';

/** Serves one hop call: what the router does with an HTTP hop request (`wire` is its sealed body). */
export type MuxCallHandler = (req: IncomingMessage, res: ServerResponse, wire: Buffer) => void;

/** Takes over an upgraded connection (calls then arrive as frames). */
export function serveMuxConnection(socket: Socket, head: Buffer, onCall: MuxCallHandler): void {
  const replies = new Map<number, MuxReply>();
  const conn = new MuxSocket(socket, head, (type, id, payload) => {
    switch (type) {
      case FrameType.Request: {
        const call = parseRequest(payload);
        if (call === null) return conn.send(FrameType.Reset, id, Buffer.from('malformed request frame'));
        const reply = new MuxReply(conn, id, () => replies.delete(id));
        replies.set(id, reply);
        onCall(call.req, reply as unknown as ServerResponse, call.wire);
        return;
      }
      case FrameType.Window:
        replies.get(id)?.grant(payload.readUInt32BE(0));
        return;
      case FrameType.Reset:
        replies.get(id)?.cancel();
        return;
    }
  }, () => {
    for (const reply of replies.values()) reply.cancel();
    replies.clear();
  });
}

/** What a call needs of its request: method, url, headers; the body came whole in the frame. */
function parseRequest(payload: Buffer): { req: IncomingMessage; wire: Buffer } | null {
  if (payload.length < 4) return null;
  const headLength = payload.readUInt32BE(0);
  if (4 + headLength > payload.length) return null;
  let head: { m?: unknown; p?: unknown; h?: unknown };
  try {
    head = JSON.parse(payload.toString('utf8', 4, 4 + headLength)) as typeof head;
  } catch {
    return null;
  }
  if (typeof head.m !== 'string' || typeof head.p !== 'string' || !head.p.startsWith('/svc/') || typeof head.h !== 'object' || head.h === null) return null;
  const wire = payload.subarray(4 + headLength);
  const headers = head.h as IncomingHttpHeaders;
  headers['content-length'] = String(wire.length);
  const req = { method: head.m, url: head.p, headers, complete: true, resume: noop } as unknown as IncomingMessage;
  return { req, wire };
}

function noop(): void {
  // The body arrived whole with the frame: nothing to drain.
}

/** The response side of a call on the connection, shaped like the ServerResponse the call code uses. */
class MuxReply extends Writable {
  readonly #conn: MuxSocket;
  readonly #id: number;
  readonly #done: () => void;
  readonly #pending: Record<string, string | string[] | number> = {};
  headersSent = false;
  statusCode = 200;
  #credit = INITIAL_WINDOW;
  #waiting: { chunk: Buffer; done: (err?: Error | null) => void } | null = null;
  #cancelled = false;

  constructor(conn: MuxSocket, id: number, done: () => void) {
    super();
    this.#conn = conn;
    this.#id = id;
    this.#done = done;
  }

  setHeader(name: string, value: string | string[] | number): this {
    this.#pending[name.toLowerCase()] = value;
    return this;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders = {}): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.headersSent = true;
    const json = Buffer.from(JSON.stringify({ ...this.#pending, ...headers }));
    const head = Buffer.allocUnsafe(2 + json.length);
    head.writeUInt16BE(status, 0);
    json.copy(head, 2);
    this.#conn.send(FrameType.Head, this.#id, head);
    return this;
  }

  /** Credit from the egress: sends what waited for it. */
  grant(bytes: number): void {
    this.#credit += bytes;
    const waiting = this.#waiting;
    if (waiting === null) return;
    this.#waiting = null;
    this.#send(waiting.chunk, waiting.done);
  }

  /** The egress gave up on the call (or the connection closed). */
  cancel(): void {
    this.#cancelled = true;
    this.destroy(); // no error: nobody listens for one; 'close' tells the call
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.#send(chunk, done);
  }

  /** Sends what the window allows; the rest waits for credit (and holds the stream's write callback). */
  #send(chunk: Buffer, done: (err?: Error | null) => void): void {
    const n = Math.min(chunk.length, this.#credit);
    if (n > 0) {
      this.#conn.send(FrameType.Data, this.#id, n === chunk.length ? chunk : chunk.subarray(0, n));
      this.#credit -= n;
    }
    if (n === chunk.length) return done();
    this.#waiting = { chunk: chunk.subarray(n), done };
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.#conn.send(FrameType.End, this.#id, null);
    this.#done();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    if (!this.writableFinished) {
      if (!this.#cancelled) this.#conn.send(FrameType.Reset, this.#id, Buffer.from(err?.message ?? 'the call was cut'));
      this.#done();
    }
    this.#waiting = null;
    done(err);
  }
}
