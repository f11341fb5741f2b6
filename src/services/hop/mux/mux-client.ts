/**
 * The egress end of the multiplexed hop (mux-socket.ts): one connection to
 * the ingress, opened on first use with an HTTP upgrade and again after it
 * closes. `dispatch` takes the same handler undici does (ServiceCall), so a
 * call reads the same whichever way its request travels: onRequestStart,
 * onResponseStart, onResponseData (pausing when the client is full), then
 * onResponseEnd or onResponseError. A call still open when the connection
 * closes fails with onResponseError; it is not sent again (it may have run).
 */
import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { FrameType, INITIAL_WINDOW, MuxSocket } from './mux-socket.ts';

/** The path and protocol name of the upgrade. */
export const MUX_PATH = '/svc/_hop';
export const MUX_PROTOCOL = 'tollgate-hop-v2';

/** One call on the connection: its handler and the controller undici would hand it. */
class MuxStream implements Dispatcher.DispatchController {
  readonly id: number;
  readonly handler: Dispatcher.DispatchHandler;
  readonly #client: MuxClient;
  aborted = false;
  paused = false;
  reason: Error | null = null;
  /** Reply bytes passed to the handler and not yet granted back to the ingress. */
  owed = 0;

  constructor(id: number, handler: Dispatcher.DispatchHandler, client: MuxClient) {
    this.id = id;
    this.handler = handler;
    this.#client = client;
  }

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#client.cancel(this, reason);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.#client.grant(this);
  }
}

export class MuxClient {
  readonly #host: string;
  readonly #port: number;
  readonly #path: string;
  #conn: MuxSocket | null = null;
  #connecting: Promise<MuxSocket> | null = null;
  readonly #streams = new Map<number, MuxStream>();
  #nextId = 1;

  /** `origin` http://host:port of the ingress; `basePath` its path prefix. */
  constructor(origin: string, basePath: string) {
    const u = new URL(origin);
    this.#host = u.hostname;
    this.#port = Number(u.port || 80);
    this.#path = basePath + MUX_PATH;
  }

  /** Sends one call: `headers` as for undici, `body` the sealed message. */
  dispatch(method: string, path: string, headers: Record<string, string | string[]>, body: Buffer, handler: Dispatcher.DispatchHandler): void {
    let id = this.#nextId;
    while (this.#streams.has(id)) id = id >= 0x7fff_ffff ? 1 : id + 1; // only after 2^31 calls, with one still open
    this.#nextId = id >= 0x7fff_ffff ? 1 : id + 1;
    const stream = new MuxStream(id, handler, this);
    handler.onRequestStart?.(stream, {});
    if (stream.aborted) return;
    this.#streams.set(id, stream);
    const head = Buffer.from(JSON.stringify({ m: method, p: path, h: headers }));
    const prefix = Buffer.allocUnsafe(4 + head.length);
    prefix.writeUInt32BE(head.length, 0);
    head.copy(prefix, 4);
    const send = (conn: MuxSocket): void => {
      if (!stream.aborted) conn.send(FrameType.Request, id, prefix, body);
    };
    if (this.#conn !== null) return send(this.#conn);
    this.#connect().then(send, (err: Error) => this.#fail(stream, err));
  }

  /** The handler gave up (timeout, client gone): the ingress is told, the handler hears its error. */
  cancel(stream: MuxStream, reason: Error): void {
    if (!this.#streams.delete(stream.id)) return;
    this.#conn?.send(FrameType.Reset, stream.id, Buffer.from(reason.message));
    queueMicrotask(() => stream.handler.onResponseError?.(stream, reason));
  }

  /** Grants the ingress the reply bytes the handler took since its last grant. */
  grant(stream: MuxStream): void {
    if (stream.owed === 0 || this.#conn === null) return;
    const credit = Buffer.allocUnsafe(4);
    credit.writeUInt32BE(stream.owed, 0);
    stream.owed = 0;
    this.#conn.send(FrameType.Window, stream.id, credit);
  }

  close(): void {
    this.#conn?.close();
  }

  #connect(): Promise<MuxSocket> {
    this.#connecting ??= new Promise<MuxSocket>((resolve, reject) => {
      const req = request({ host: this.#host, port: this.#port, path: this.#path, headers: { connection: 'upgrade', upgrade: MUX_PROTOCOL } });
      req.once('upgrade', (_res, socket: Socket, head: Buffer) => {
        const conn = new MuxSocket(socket, head, (type, id, payload) => this.#onFrame(type, id, payload), (err) => this.#closed(conn, err));
        this.#conn = conn;
        this.#connecting = null;
        resolve(conn);
      });
      req.once('response', (res) => {
        res.resume();
        this.#connecting = null;
        reject(new Error(`the ingress refused the hop connection (${res.statusCode})`));
      });
      req.once('error', (err) => {
        this.#connecting = null;
        reject(err);
      });
      req.end();
    });
    return this.#connecting;
  }

  #onFrame(type: FrameType, id: number, payload: Buffer): void {
    const stream = this.#streams.get(id);
    if (stream === undefined) return; // cancelled here while the frame was on its way
    const h = stream.handler;
    switch (type) {
      case FrameType.Head:
        h.onResponseStart?.(stream, payload.readUInt16BE(0), JSON.parse(payload.toString('utf8', 2)) as Record<string, string>, '');
        return;
      case FrameType.Data:
        h.onResponseData?.(stream, payload);
        stream.owed += payload.length;
        // Grant back at half the window, unless the client is full (then on resume).
        if (!stream.paused && stream.owed >= INITIAL_WINDOW / 2) this.grant(stream);
        return;
      case FrameType.End:
        this.#streams.delete(id);
        h.onResponseEnd?.(stream, {});
        return;
      case FrameType.Reset:
        this.#fail(stream, new Error(`the ingress reset the call: ${payload.toString()}`));
        return;
    }
  }

  #fail(stream: MuxStream, err: Error): void {
    if (!this.#streams.delete(stream.id)) return; // cancelled already: the handler heard its own error
    stream.handler.onResponseError?.(stream, err);
  }

  #closed(conn: MuxSocket, err: Error): void {
    if (this.#conn === conn) this.#conn = null;
    const open = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of open) stream.handler.onResponseError?.(stream, err);
  }
}
