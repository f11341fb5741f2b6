/**
 * First-token timeout: a streamed attempt whose upstream has sent no body byte
 * within the channel's `firstTokenTimeoutMs` is aborted with a FailureError
 * that blames the channel, so the relay cools it and fails over. It sits
 * between ErrorCapture and Attempt (see start-attempt.ts): an error answer
 * held by ErrorCapture never counts as a first byte, and nothing has reached
 * the client while the timer runs, because ClientSink sends the head with the
 * first body byte that passes here.
 *
 * "First token" is the first body byte of a 2xx answer, not the first SSE
 * event carrying content: a byte that passed here has already gone to the
 * client (the request is committed), so waiting for content would time out
 * requests that can no longer fail over. The clock starts at dispatch, so a
 * slow connect (or proxy tunnel) counts too; undici hands over the controller
 * only once connected, so a deadline passed while connecting cuts the attempt
 * as soon as the connection is ready (the connect timeout bounds that wait).
 * One timer per attempt, cleared at the first byte, nothing per chunk.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { Errors } from '../errors.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';
import { failureError, type Failure } from './failure.ts';

type Controller = Dispatcher.DispatchController;

/** The error class of an attempt cut by this timer (metrics, usage record). */
export const FIRST_TOKEN_TIMEOUT = 'first_token_timeout';

export class FirstTokenTimer extends ForwardingHandler {
  readonly #channelName: string;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | null;
  #controller: Controller | null = null;
  /** The timer fired before undici handed over the controller (still connecting). */
  #expired = false;

  constructor(channelName: string, timeoutMs: number, next: UpstreamHandler) {
    super(next);
    this.#channelName = channelName;
    this.#timeoutMs = timeoutMs;
    this.#timer = setTimeout(() => this.#expire(), timeoutMs);
  }

  override onRequestStart(controller: Controller, context: unknown): void {
    this.#controller = controller;
    this.next.onRequestStart(controller, context);
    if (this.#expired && !controller.aborted) controller.abort(failureError(this.#failure()));
  }

  override onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#timer !== null && chunk.length > 0) this.#stop();
    this.next.onResponseData(controller, chunk);
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    this.#stop();
    this.next.onResponseEnd(controller, trailers);
  }

  override onResponseError(controller: Controller, err: Error): void {
    this.#stop();
    this.next.onResponseError(controller, err);
  }

  #stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #expire(): void {
    this.#timer = null;
    const controller = this.#controller;
    if (controller === null) this.#expired = true;
    else if (!controller.aborted) controller.abort(failureError(this.#failure()));
  }

  #failure(): Failure {
    return {
      error: Errors.upstreamTimeout,
      status: 504,
      message: `Upstream channel '${this.#channelName}' sent no first byte within ${this.#timeoutMs} ms.`,
      errorClass: FIRST_TOKEN_TIMEOUT,
      blame: 'channel',
    };
  }
}
