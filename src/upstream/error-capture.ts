/**
 * Error capture: an upstream 401/403/429/5xx is not the client's answer but a
 * reason to try elsewhere. Its head and body never go further down the chain;
 * the first 4 KB of the body give the message, and at the end the handlers
 * below get a FailureError instead of an end (as undici's response-error
 * interceptor does). Other 4xx answers (400, 404, 422: the request's fault)
 * go to the client, but as one scrubbed body: the upstream's error text may
 * echo the key the gateway sent. Every other status passes through untouched.
 */
import type { Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { Errors } from '../errors.ts';
import { MAX_ERROR_BODY } from '../providers/error-body.ts';
import type { Dialect } from '../providers/index.ts';
import { ForwardingHandler, type UpstreamHandler } from './forwarding-handler.ts';
import { failureError, type Failure } from './failure.ts';
import { scrubErrorBody, scrubSecrets } from '../providers/scrub-secrets.ts';

type Controller = Dispatcher.DispatchController;

/** Most of a 4xx body passed on to the client (error JSON is small; the rest is cut). */
const MAX_CLIENT_ERROR_BODY = 64 * 1024;

/** Statuses worth a retry on another key or channel. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status === 401 || status === 403 || status >= 500;

export class ErrorCapture extends ForwardingHandler {
  readonly #channelName: string;
  readonly #dialect: Dialect;
  readonly #keySecret: string;
  /** The captured status; 0 while the response passes through. */
  #status = 0;
  /** A client-error answer being held to be scrubbed and passed on whole. */
  #scrubbing = false;
  #text = '';

  constructor(channelName: string, dialect: Dialect, keySecret: string, next: UpstreamHandler) {
    super(next);
    this.#channelName = channelName;
    this.#dialect = dialect;
    this.#keySecret = keySecret;
  }

  override onResponseStart(controller: Controller, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (isRetryableStatus(status)) this.#status = status;
    else if (status >= 400) {
      this.#scrubbing = true;
      const { 'content-length': _length, ...rest } = headers; // the scrubbed body has its own length
      this.next.onResponseStart(controller, status, rest, statusMessage);
    } else this.next.onResponseStart(controller, status, headers, statusMessage);
  }

  override onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#status === 0 && !this.#scrubbing) this.next.onResponseData(controller, chunk);
    else if (this.#text.length < MAX_CLIENT_ERROR_BODY) this.#text += chunk.toString('utf8', 0, Math.min(chunk.length, MAX_CLIENT_ERROR_BODY));
  }

  override onResponseEnd(controller: Controller, trailers: IncomingHttpHeaders): void {
    if (this.#scrubbing) {
      this.next.onResponseData(controller, Buffer.from(scrubErrorBody(this.#text, this.#keySecret)));
      this.next.onResponseEnd(controller, trailers);
    } else if (this.#status === 0) this.next.onResponseEnd(controller, trailers);
    else this.next.onResponseError(controller, failureError(this.#failure()));
  }

  /** Auth and rate errors count against the key, 5xx against the channel. */
  #failure(): Failure {
    const status = this.#status;
    return {
      error: status === 429 ? Errors.rateLimited : Errors.upstreamError,
      status: status === 429 ? 429 : 502,
      message: `Upstream channel '${this.#channelName}' answered ${status}: ${scrubSecrets(this.#dialect.errorMessage(this.#text.slice(0, MAX_ERROR_BODY)), this.#keySecret)}`,
      errorClass: status === 429 ? 'upstream_429' : status >= 500 ? 'upstream_5xx' : 'upstream_auth',
      blame: status >= 500 ? 'channel' : 'key',
    };
  }
}
