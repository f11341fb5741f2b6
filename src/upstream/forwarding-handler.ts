/**
 * The base of the attempt's dispatch handlers, in the manner of undici's
 * DecoratorHandler: every callback goes on to the next handler unchanged, and
 * a handler overrides only the ones it acts on.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';

type Controller = Dispatcher.DispatchController;

/** The callbacks a chain handler receives; all present, so forwarding is a direct call. */
export type UpstreamHandler = Required<Pick<Dispatcher.DispatchHandler, 'onRequestStart' | 'onResponseStart' | 'onResponseData' | 'onResponseEnd' | 'onResponseError'>>;

export abstract class ForwardingHandler implements UpstreamHandler {
  protected readonly next: UpstreamHandler;

  constructor(next: UpstreamHandler) {
    this.next = next;
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.next.onRequestStart(controller, context);
  }

  onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.next.onResponseData(controller, chunk);
  }

  onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    this.next.onResponseEnd(controller, trailers);
  }

  onResponseError(controller: Controller, err: Error): void {
    this.next.onResponseError(controller, err);
  }
}
