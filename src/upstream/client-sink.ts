/**
 * Client sink, the end of the chain: the client's response. The head goes out
 * with the first body byte (so an upstream failing after its headers but
 * before any body is still retried), each chunk is written straight to the
 * client socket — no Readable, no promise per chunk — and when the client
 * falls behind, reading the upstream pauses until it drains.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestContext } from '../gateway/context.ts';
import { writeResponseHead } from './response-head.ts';
import type { UpstreamHandler } from './forwarding-handler.ts';

type Controller = Dispatcher.DispatchController;

export class ClientSink implements UpstreamHandler {
  readonly #ctx: RequestContext;
  #streaming = false;
  #contentType = '';
  #contentLength = -1;
  #resume: (() => void) | null = null;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
  }

  onRequestStart(): void {}

  onResponseStart(_controller: Controller, status: number, headers: IncomingHttpHeaders): void {
    const ctx = this.#ctx;
    ctx.status = status;
    if (status >= 400) ctx.outcome = 'upstream_error';
    const type = headers['content-type'];
    if (ctx.stream && status === 200) {
      // The length of a stream is not forwarded: handlers above may change its bytes.
      this.#streaming = true;
      this.#contentType = typeof type === 'string' ? type : 'text/event-stream';
    } else {
      this.#contentType = typeof type === 'string' ? type : 'application/json';
      const length = headers['content-length'];
      this.#contentLength = typeof length === 'string' ? Number(length) : -1;
    }
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    const ctx = this.#ctx;
    if (!ctx.committed) {
      writeResponseHead(ctx, ctx.status, this.#contentType, this.#contentLength);
      if (this.#streaming) ctx.ttftMs = performance.now() - ctx.startedAt;
    }
    if (ctx.clientGone) return; // drain mode: the handlers above keep reading for the final usage
    if (chunk.length > 0 && !ctx.res.write(chunk)) {
      controller.pause();
      this.#resume ??= () => controller.resume();
      ctx.res.once('drain', this.#resume);
    }
  }

  onResponseEnd(controller: Controller): void {
    const ctx = this.#ctx;
    // A chunk held back to the end (see UsageTap) may have paused a request that is already complete: nothing to resume.
    if (controller.paused && this.#resume !== null) ctx.res.removeListener('drain', this.#resume);
    if (!ctx.committed) writeResponseHead(ctx, ctx.status, this.#contentType, this.#contentLength);
    if (!ctx.clientGone) ctx.res.end();
  }

  /** Cut after the first byte: the client already has its status; end what it has. */
  onResponseError(): void {
    const ctx = this.#ctx;
    if (ctx.committed && !ctx.clientGone) ctx.res.end();
  }
}
