/**
 * Capture answer: keeps a reference to every chunk the client is sent, so a
 * complete answer can be stored in the response cache once it is delivered.
 * The chunks are the ones written to the client (not copies); the one copy is
 * the entry itself, made by `take()`. Past the entry bound the chunks are let
 * go and nothing is stored. Constructed into the chain just before the client
 * sink, and only for a request that may fill the cache.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';

type Controller = Dispatcher.DispatchController;

/** What one request captured; each attempt starts it afresh (a failover's first attempt may have begun an answer). */
export class AnswerCapture {
  readonly #maxBytes: number;
  status = 0;
  contentType = '';
  complete = false;
  #chunks: Buffer[] = [];
  #size = 0;
  #over = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  start(status: number, contentType: string): void {
    this.status = status;
    this.contentType = contentType;
    this.complete = false;
    this.#chunks = [];
    this.#size = 0;
    this.#over = false;
  }

  add(chunk: Buffer): void {
    if (this.#over || chunk.length === 0) return;
    this.#size += chunk.length;
    if (this.#size > this.#maxBytes) {
      this.#over = true;
      this.#chunks = [];
    } else this.#chunks.push(chunk);
  }

  /** The whole answer as one buffer; null when it did not end, or outgrew the bound. Releases the chunks. */
  take(): Buffer | null {
    const chunks = this.#chunks;
    this.#chunks = [];
    if (!this.complete || this.#over) return null;
    return Buffer.concat(chunks, this.#size);
  }
}

export class CaptureAnswer extends ForwardingHandler {
  readonly #capture: AnswerCapture;

  constructor(capture: AnswerCapture, next: UpstreamHandler) {
    super(next);
    this.#capture = capture;
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    const type = headers['content-type'];
    this.#capture.start(status, typeof type === 'string' ? type : '');
    this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  override onResponseData(controller: Controller, chunk: Buffer): void {
    this.#capture.add(chunk);
    this.next.onResponseData(controller, chunk);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    this.#capture.complete = true;
    this.next.onResponseEnd(controller, trailers);
  }
}
