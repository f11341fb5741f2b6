/**
 * One upstream attempt as a chain of undici dispatch handlers, each wrapping
 * the next (undici's DecoratorHandler and lib/interceptor/* are the model).
 * Callbacks run left to right, once per event; nothing per chunk but a
 * method call per handler.
 *
 *   undici ──► ErrorCapture ──► Attempt ──────► UsageTap ──────► [TranslateAnswer] ──► [FilterAnswer] ──► ClientSink ──► client
 *              401/403/429/5xx  controller,      SSE scan or      only when the         only when response  head with the
 *              body → Failure,  cancel/resume,   body tail →      channel does not      filters are in      first byte, writes
 *              never forwarded  done promise     usage on ctx;    speak the client's    scope: the text of  with backpressure,
 *                               (any error →     drops the        protocol: events or   each delta, in the  end
 *                               its Failure)     injected usage   body → the client's   client's protocol
 *                                                event            protocol
 *
 * A failure travels the same way as any other event: a handler passes a
 * FailureError down as onResponseError (or aborts the controller with one),
 * and the attempt resolves `done` with its Failure once the handlers below it
 * have run. So a handler joins by being constructed into this list, touching
 * no other:
 *   - the first-token timer (first-token-timer.ts), between ErrorCapture and
 *     Attempt on streamed requests of channels that set one: it aborts the
 *     controller with a FailureError, so a timeout before the first byte fails over;
 *   - handlers between UsageTap and ClientSink see the answer after metering
 *     and before the client, and may pass on empty chunks (the first one still
 *     starts the client's response);
 *   - CaptureAnswer (capture-answer.ts), just before ClientSink on a request
 *     that may fill the response cache: it keeps the chunks the client is sent.
 */
import type { Dispatcher } from 'undici';
import type { Dialect } from '../providers/index.ts';
import type { Translation } from '../providers/translate/index.ts';
import type { TokenCounter } from '../providers/sse-scanner.ts';
import type { RequestContext } from '../gateway/context.ts';
import { Attempt } from './attempt.ts';
import { ErrorCapture } from './error-capture.ts';
import { UsageTap } from './usage-tap.ts';
import { ClientSink } from './client-sink.ts';
import { TranslateAnswer } from './translate-answer.ts';
import { FilterAnswer } from './filter-answer.ts';
import type { TextFilter } from '../filters/text-filter.ts';
import { FirstTokenTimer } from './first-token-timer.ts';
import { CaptureAnswer } from './capture-answer.ts';

/** The upstream side of one attempt: the protocol it speaks and, when that is not the client's, the translation back. */
export interface AttemptProtocol {
  readonly dialect: Dialect;
  readonly translation: Translation | null;
}

/**
 * Builds the chain, makes it the request's attempt in flight and dispatches
 * it. Throws what dispatch throws synchronously (invalid options).
 * `firstTokenTimeoutMs` > 0 adds the first-token timer to a streamed request
 * (a whole JSON answer's first byte comes when it is complete: no "first token").
 */
export function startAttempt(
  upstream: Dispatcher, options: Dispatcher.DispatchOptions, ctx: RequestContext, channelName: string, protocol: AttemptProtocol,
  countTokens: TokenCounter, keySecret: string, filter: TextFilter | null = null, firstTokenTimeoutMs = 0,
): Attempt {
  const { dialect, translation } = protocol;
  const client = ctx.cacheCapture === null ? new ClientSink(ctx) : new CaptureAnswer(ctx.cacheCapture, new ClientSink(ctx));
  const sink = filter === null ? client : new FilterAnswer(ctx, filter, client);
  // A translated stream needs the usage event the gateway asked for: the translator writes the client's own from it.
  const hideUsageEvent = translation === null && !ctx.clientWantsStreamUsage;
  // A translated answer's id is the gateway's own: nothing upstream could be fetched by it.
  const captureResponseId = translation === null && ctx.endpoint.kind === 'responses';
  const tap = new UsageTap(ctx, dialect, countTokens, keySecret, hideUsageEvent, captureResponseId, translation === null ? sink : new TranslateAnswer(ctx, translation, sink));
  const attempt = new Attempt(ctx, channelName, tap);
  ctx.attempt = attempt;
  const timed = ctx.stream && firstTokenTimeoutMs > 0 ? new FirstTokenTimer(channelName, firstTokenTimeoutMs, attempt) : attempt;
  upstream.dispatch(options, new ErrorCapture(channelName, dialect, keySecret, timed));
  return attempt;
}
