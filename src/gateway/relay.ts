/**
 * Stage 4: relay to an upstream, with failover. Each attempt picks a channel
 * and key; a connect error, timeout, 401/403/429 or 5xx before any byte reached
 * the client cools that key or channel down and moves to the next candidate.
 * Once a byte went to the client the request is committed and never retried.
 *
 * Bytes are streamed through as they arrive (see src/upstream/start-attempt.ts
 * for the handler chain); the response is never buffered. Channel health and
 * the failover metrics are kept here, from each attempt's Failure.
 */
import { Errors } from '../errors.ts';
import { pickKey, type ChannelRoute, type UpstreamKey } from '../routing/route-table.ts';
import { startAttempt } from '../upstream/start-attempt.ts';
import { connectFailure, type Failure } from '../upstream/failure.ts';
import { writeErrorResponse } from '../upstream/response-head.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

export async function relay(gw: Gateway, ctx: RequestContext): Promise<void> {
  const now = Date.now();
  const order = gw.routes.attemptOrder(ctx.modelRoute!, gw.config.upstream.maxAttempts, now);
  let failure: Failure | null = null;
  ctx.upstreamStartedAt = performance.now();
  for (const channel of order) {
    if (ctx.clientGone) break;
    const key = pickKey(channel, now);
    if (key === null) {
      failure = { error: Errors.noChannel, status: 503, message: `Channel '${channel.name}' has no upstream key.`, errorClass: 'no_key', blame: null };
      continue;
    }
    const body = upstreamBody(ctx, channel);
    if (body instanceof Error) {
      // The client's JSON cannot be re-serialised (nested too deep): its fault, answered 400, no upstream call.
      ctx.outcome = 'bad_request';
      ctx.errorClass = 'unserialisable_body';
      writeErrorResponse(ctx, Errors.invalidBody, 'The request body is nested too deeply to be forwarded.', 400);
      return;
    }
    if (ctx.attempts > 0) gw.metrics?.failover(channel.name, failure?.errorClass ?? 'unknown');
    ctx.attempts++;
    ctx.upstreamChannel = channel;
    ctx.upstreamKey = key;
    ctx.channel = channel.name;
    failure = await attempt(gw, ctx, channel, key, body);
    if (failure === null) {
      gw.health.succeed(channel.health);
      gw.health.succeed(key.health);
      break;
    }
    if (failure.blame !== null) {
      // The upstream failed (not the client, not our own shutdown): take it out of rotation for a while.
      gw.health.fail(failure.blame === 'key' ? key.health : channel.health, Date.now());
      gw.metrics?.cooldown(channel.name);
    }
    if (ctx.committed || ctx.cancelled !== null) break; // after the first byte, or cut: no retry
  }
  ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
  // Drain mode read the answer to its end after the client left: still the client's abort.
  if (failure === null && ctx.clientGone) ctx.outcome = 'client_abort';
  // An error event inside a 200 stream: the client keeps its status, the record says the upstream failed.
  else if (failure === null && ctx.errorClass === 'stream_error') ctx.outcome = 'upstream_error';
  if (failure !== null) {
    ctx.errorClass = failure.errorClass;
    if (ctx.clientGone) {
      ctx.outcome = 'client_abort';
      if (!ctx.committed) ctx.status = 499;
    } else if (ctx.committed) {
      // Cut after the first byte: the client keeps the status it got.
      ctx.outcome = ctx.cancelled === 'shutdown' ? 'shutdown_cut' : 'upstream_error';
    } else if (ctx.cancelled === 'shutdown') {
      ctx.outcome = 'shutdown_cut';
      writeErrorResponse(ctx, Errors.shuttingDown);
    } else {
      ctx.outcome = 'upstream_error';
      ctx.status = failure.status;
      writeErrorResponse(ctx, failure.error, failure.message, failure.status);
    }
  }
}

/**
 * The body to send this channel: the client's bytes, or a re-serialised copy
 * when the channel renames the model or usage must be asked for. A RangeError
 * from JSON.stringify (a hostile nesting depth) is returned, not thrown: it is
 * the client's input, not the upstream, that failed.
 */
function upstreamBody(ctx: RequestContext, channel: ChannelRoute): Buffer | undefined | RangeError {
  if (ctx.body === null) return undefined;
  try {
    return ctx.dialect.upstreamBody(ctx.body, ctx.json!, channel.renames.get(ctx.model), ctx.stream && !ctx.clientWantsStreamUsage);
  } catch (err) {
    if (err instanceof RangeError) return err;
    throw err;
  }
}

/** One try on one channel and key; null when the response was delivered. */
function attempt(gw: Gateway, ctx: RequestContext, channel: ChannelRoute, key: UpstreamKey, body: Buffer | undefined): Promise<Failure | null> {
  const cfg = gw.config.upstream;
  // The route table only offers channels that serve the client's protocol natively: its dialect is the upstream's.
  const dialect = ctx.dialect;
  try {
    return startAttempt(gw.upstream, {
      origin: channel.origin,
      path: dialect.upstreamPath(channel.basePath, ctx.endpoint.upstreamPath),
      method: 'POST',
      headers: dialect.upstreamHeaders(ctx.req.headers, ctx.stream, key.authHeader, key.authValue),
      body,
      headersTimeout: cfg.headersTimeoutMs,
      bodyTimeout: cfg.bodyTimeoutMs,
    }, ctx, channel.name, dialect, gw.countTokens, key.secret).done;
  } catch (err) {
    // Invalid options throw synchronously: reported like a connect failure, without a cooldown.
    return Promise.resolve(connectFailure(channel.name, err, null));
  }
}
