/**
 * How an upstream attempt failed, as data for the relay's failover and
 * cooldown decisions. Handlers report a failure by passing a FailureError
 * down the chain as onResponseError; the attempt turns any error back into
 * its Failure.
 */
import { Errors, type ErrorSpec } from '../errors.ts';

/** The target a failure cools down; null when it counts against nobody (a cut after the first byte, our own cancel). */
export type Blame = 'channel' | 'key' | 'proxy' | null;

/** Why an attempt did not deliver an answer. */
export interface Failure {
  readonly error: ErrorSpec;
  readonly status: number;
  readonly message: string;
  readonly errorClass: string;
  readonly blame: Blame;
}

/** An error that already says how the attempt failed. */
export class FailureError extends Error {
  readonly failure: Failure;

  constructor(failure: Failure) {
    super(failure.message);
    this.failure = failure;
  }
}

/**
 * A FailureError without a stack trace: nobody reads it, and an upstream
 * answering 429s under load would otherwise pay for one per attempt (as
 * undici's response-error interceptor does).
 */
export function failureError(failure: Failure): FailureError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new FailureError(failure);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The client left while the attempt ran. */
export const CLIENT_ABORT: Failure = { error: Errors.upstreamError, status: 499, message: 'client closed the request', errorClass: 'client_abort', blame: null };

/** A connection-level failure (refused, reset, timed out) of a channel. */
export function connectFailure(channelName: string, err: unknown, blame: Blame): Failure {
  const code = (err as { code?: string }).code ?? (err as Error).name ?? 'ERROR';
  const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
  return {
    error: timeout ? Errors.upstreamTimeout : Errors.upstreamError,
    status: timeout ? 504 : 502,
    message: `Upstream channel '${channelName}' failed: ${timeout ? 'timed out' : (err as Error).message ?? code}`,
    errorClass: timeout ? 'timeout' : code,
    blame,
  };
}
