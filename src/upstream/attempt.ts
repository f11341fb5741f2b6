/**
 * The attempt: one try of one request on one channel and key. It holds the
 * undici DispatchController (so the request can cancel it or unpause it),
 * stamps the time the upstream answered, and resolves `done` once the
 * handlers below have finished: null when the answer was delivered, else the
 * Failure — a FailureError from a handler above, or a connection-level error.
 * Health and metrics are the relay's business, not the attempt's.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Cancellable, RequestContext } from '../gateway/context.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';
import { CLIENT_ABORT, FailureError, connectFailure, type Failure } from './failure.ts';

type Controller = Dispatcher.DispatchController;

export class Attempt extends ForwardingHandler implements Cancellable {
  readonly #ctx: RequestContext;
  readonly #channelName: string;
  readonly #done: PromiseWithResolvers<Failure | null> = Promise.withResolvers();
  #controller: Controller | null = null;

  constructor(ctx: RequestContext, channelName: string, next: UpstreamHandler) {
    super(next);
    this.#ctx = ctx;
    this.#channelName = channelName;
  }

  /** Resolves when the attempt is over: null when the answer was delivered. */
  get done(): Promise<Failure | null> {
    return this.#done.promise;
  }

  /** Stops the upstream request (client gone, shutdown deadline). */
  cancel(reason: Error): void {
    if (this.#controller !== null && !this.#controller.aborted) this.#controller.abort(reason);
  }

  /** Reads on after the client left (drain mode): nobody will send the 'drain' a paused read waits for. */
  resumeReading(): void {
    if (this.#controller !== null && this.#controller.paused) this.#controller.resume();
  }

  override onRequestStart(controller: Controller, context: unknown): void {
    this.#controller = controller;
    this.next.onRequestStart(controller, context);
    if (this.#ctx.cancelled !== null) controller.abort(new Error(this.#ctx.cancelled));
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.#ctx.upstreamHeadersAt = performance.now();
    this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    this.next.onResponseEnd(controller, trailers);
    this.#done.resolve(null);
  }

  override onResponseError(controller: Controller, err: Error): void {
    this.next.onResponseError(controller, err);
    this.#done.resolve(this.#failureOf(err));
  }

  #failureOf(err: Error): Failure {
    if (err instanceof FailureError) return err.failure;
    const ctx = this.#ctx;
    if (ctx.clientGone) return CLIENT_ABORT;
    // Cut by our own cancel: nobody is to blame. A reset in mid-answer is the channel's
    // fault like a connect error: it cools the channel (the request itself is not retried).
    return connectFailure(this.#channelName, err, ctx.cancelled !== null ? null : 'channel');
  }
}
