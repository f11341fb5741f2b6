/**
 * One service call: its context (every field assigned in the constructor) and
 * the undici dispatch handler that relays the answer. The response body is
 * written to `sink` chunk by chunk — the client response itself, or the head
 * of a hop pipeline (encoder or decoder) that is piped into it — pausing the
 * upstream read while the sink is full and resuming on its 'drain'.
 *
 * The timeout (the rule's, cut to the deadline) runs until the response head
 * arrives: a long body that is flowing is never cut by it.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { sendError, type ErrorSpec } from '../errors.ts';
import type { Lease } from '../limiter/limiter.ts';
import type { HopState } from './hop/hop-state.ts';
import { ServiceErrors } from './service-errors.ts';
import type { CompiledRule, ServiceEntry, Target } from './service-table.ts';

/** Where a response body goes: a Writable, or anything that takes chunks the same way. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  destroy(err?: Error): void;
  on(event: 'drain', listener: () => void): unknown;
}
/** Writes the response head for the client and returns where the body goes (null: ignore the body). */
export type ResponseStart = (call: ServiceCall, status: number, headers: IncomingHttpHeaders) => BodySink | null;
/** Called once when the call is over, response sent or cut (records, metrics, lease). */
export type CallEnd = (call: ServiceCall) => void;
/** Called when an attempt failed before any response byte: true when the call was sent again elsewhere. */
export type CallRetry = (call: ServiceCall, err: Error) => boolean;

export class ServiceCall implements Dispatcher.DispatchHandler {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startedAt: number;
  readonly ts: number;
  readonly method: string;
  /** Path inside the service, with its query string. */
  path: string;
  entry: ServiceEntry | null;
  rule: CompiledRule | null;
  userId: number;
  deadline: number;
  lease: Lease | null;
  hop: HopState | null;
  /** The target of the current attempt (local calls). */
  target: Target | null;
  /** Attempts dispatched so far. */
  attempts: number;
  status: number;
  bytesIn: number;
  bytesOut: number;
  timedOut: boolean;
  /** The upstream failed after the head went out; the client response was destroyed. */
  cut: boolean;
  ended: boolean;
  onStart: ResponseStart | null;
  onEnd: CallEnd | null;
  onRetry: CallRetry | null;
  #sink: BodySink | null;
  #controller: Dispatcher.DispatchController | null;
  #timer: NodeJS.Timeout | null;
  readonly #resume: () => void;
  readonly #closed: () => void;

  constructor(req: IncomingMessage, res: ServerResponse, now: number) {
    this.req = req;
    this.res = res;
    this.startedAt = performance.now();
    this.ts = now;
    this.method = req.method ?? 'GET';
    this.path = '/';
    this.entry = null;
    this.rule = null;
    this.userId = 0;
    this.deadline = 0;
    this.lease = null;
    this.hop = null;
    this.target = null;
    this.attempts = 0;
    this.status = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.timedOut = false;
    this.cut = false;
    this.ended = false;
    this.onStart = null;
    this.onEnd = null;
    this.onRetry = null;
    this.#sink = null;
    this.#controller = null;
    this.#timer = null;
    this.#resume = () => this.#controller?.resume();
    this.#closed = () => this.#finish();
    res.once('close', this.#closed);
  }

  /** Answers with an error (nothing was forwarded, or nothing reached the client yet). */
  fail(spec: ErrorSpec, message?: string, retryAfterS = 0): void {
    this.status = spec.status;
    if (retryAfterS > 0 && !this.res.headersSent) this.res.setHeader('retry-after', String(retryAfterS));
    if (!this.req.complete) this.req.resume();
    sendError(this.res, spec, message);
  }

  /** Starts the timeout of the response head. */
  arm(timeoutMs: number): void {
    this.#timer = setTimeout(onTimeout, timeoutMs, this);
  }

  /** Aborts the upstream request (timeout, client gone). */
  abort(reason: string): void {
    if (this.#controller !== null && !this.#controller.aborted) this.#controller.abort(new Error(reason));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.ended || this.timedOut) controller.abort(new Error(this.ended ? 'client closed the request' : 'timeout'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.status = status;
    if (this.target !== null) this.entry!.answered(this.target);
    this.#sink = this.onStart!(this, status, headers);
    this.#sink?.on('drain', this.#resume);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bytesOut += chunk.length;
    const sink = this.#sink;
    if (sink !== null && !sink.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.#sink !== null) this.#sink.end();
    else this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.ended) return;
    // Another attempt keeps the head timer running: the timeout is the call's, not the attempt's.
    if (!this.res.headersSent && this.onRetry !== null && this.onRetry(this, err)) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.res.headersSent) {
      if (this.timedOut) this.fail(ServiceErrors.timeout, this.deadline !== 0 && Date.now() >= this.deadline ? 'The request deadline passed before the service answered.' : undefined);
      else this.fail(ServiceErrors.upstreamFailed, `The service failed to answer: ${err.message}`);
      return;
    }
    // Cut after the head: the client must see a truncated body, not a clean end.
    this.cut = true;
    this.#sink?.destroy(err);
    this.res.destroy(err);
  }

  #finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.res.writableFinished && !this.cut) {
      if (this.status === 0 || !this.res.headersSent) this.status = 499;
      this.abort('client closed the request');
    }
    this.onEnd?.(this);
  }
}

function onTimeout(call: ServiceCall): void {
  call.timedOut = true;
  call.abort('timeout');
}
