/**
 * Stage 4: relay to an upstream, with failover. Each attempt picks a channel
 * and key, and speaks the client's protocol to it or, when the channel does not
 * speak it, translates the request and the answer (providers/translate/). A
 * connect error, timeout, 401/403/429 or 5xx before any byte reached the client
 * cools that key or channel down and moves to the next candidate.
 * Once a byte went to the client the request is committed and never retried.
 *
 * Bytes are streamed through as they arrive (see src/upstream/start-attempt.ts
 * for the handler chain); the response is never buffered. Channel health and
 * the failover metrics are kept here, from each attempt's Failure.
 */
import { Errors } from '../errors.ts';
import { pickKey, upstreamProtocol, type ChannelRoute, type UpstreamKey } from '../routing/route-table.ts';
import { startAttempt, type AttemptProtocol } from '../upstream/start-attempt.ts';
import { dialectFor } from '../providers/index.ts';
import { TranslationError, translationBetween } from '../providers/translate/index.ts';
import { connectFailure, type Failure } from '../upstream/failure.ts';
import { writeErrorResponse } from '../upstream/response-head.ts';
import { FIRST_TOKEN_TIMEOUT } from '../upstream/first-token-timer.ts';
import type { Dispatcher } from 'undici';
import type { Gateway } from './gateway.ts';
import { throughEgress } from './egress.ts';
import type { RequestContext } from './context.ts';

export async function relay(gw: Gateway, ctx: RequestContext): Promise<void> {
  const now = Date.now();
  const order = gw.routes.attemptOrder(ctx.modelRoute!, gw.config.upstream.maxAttempts, now);
  let failure: Failure | null = null;
  // Read once: a proxy reload mid-request does not move a bound request's egress.
  const bound = gw.proxies.bound(ctx.userId, ctx.keyId);
  ctx.upstreamStartedAt = performance.now();
  for (const channel of order) {
    if (ctx.clientGone) break;
    const key = pickKey(channel, now);
    if (key === null) {
      failure = { error: Errors.noChannel, status: 503, message: `Channel '${channel.name}' has no upstream key.`, errorClass: 'no_key', blame: null };
      continue;
    }
    const protocol = attemptProtocol(ctx, channel);
    if (protocol === null) {
      failure = { error: Errors.noChannel, status: 503, message: `Channel '${channel.name}' cannot serve this API.`, errorClass: 'no_translation', blame: null };
      continue;
    }
    const body = upstreamBody(ctx, channel, protocol);
    if (body instanceof RangeError) {
      // The client's JSON cannot be re-serialised (nested too deep): its fault, answered 400, no upstream call.
      return refuseBody(ctx, 'unserialisable_body', 'The request body is nested too deeply to be forwarded.');
    }
    if (body instanceof TranslationError) {
      // Something the client asked for has no equivalent in the channel's protocol: answered 400, no upstream call.
      return refuseBody(ctx, 'untranslatable_request', body.message, body.param);
    }
    if (ctx.attempts > 0) gw.metrics?.failover(channel.name, failure?.errorClass ?? 'unknown');
    ctx.attempts++;
    ctx.upstreamChannel = channel;
    ctx.upstreamKey = key;
    ctx.channel = channel.name;
    failure = await throughEgress(gw, ctx, channel, bound, (upstream) => attempt(gw, ctx, upstream, channel, key, protocol, body));
    if (failure === null) {
      gw.health.succeed(channel.health);
      gw.health.succeed(key.health);
      break;
    }
    if (failure.blame === 'proxy' && bound !== undefined) break; // a bound request leaves through its proxy or not at all
    if (failure.blame === 'channel' || failure.blame === 'key') {
      // The upstream failed (not the client, not our own shutdown): take it out of rotation for a while.
      gw.health.fail(failure.blame === 'key' ? key.health : channel.health, Date.now());
      gw.metrics?.cooldown(channel.name);
    }
    if (failure.errorClass === FIRST_TOKEN_TIMEOUT) gw.metrics?.firstTokenFailover(channel.name);
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

function refuseBody(ctx: RequestContext, errorClass: string, message: string, param: string | null = null): void {
  ctx.outcome = 'bad_request';
  ctx.errorClass = errorClass;
  writeErrorResponse(ctx, Errors.invalidBody, message, 400, param);
}

/**
 * The protocol a channel is spoken to in: the client's own when the channel speaks
 * it, else the channel's first, with a translation each way. null when the gateway
 * has no translation between the two.
 */
function attemptProtocol(ctx: RequestContext, channel: ChannelRoute): AttemptProtocol | null {
  const client = ctx.endpoint.protocol;
  const upstream = upstreamProtocol(channel, client);
  if (upstream === client) return { dialect: ctx.dialect, translation: null };
  const translation = translationBetween(client, upstream);
  return translation === null ? null : { dialect: dialectFor(upstream), translation };
}

/**
 * The body to send this channel: the client's bytes, or a re-serialised copy
 * when the channel renames the model, usage must be asked for, or the request is
 * translated. A RangeError from JSON.stringify (a hostile nesting depth) and a
 * TranslationError are returned, not thrown: it is the client's input, not the
 * upstream, that failed.
 */
function upstreamBody(ctx: RequestContext, channel: ChannelRoute, protocol: AttemptProtocol): Buffer | undefined | RangeError | TranslationError {
  if (ctx.body === null) return undefined;
  const rename = channel.renames.get(ctx.model);
  try {
    if (protocol.translation !== null) {
      const request = protocol.translation.request(ctx.json!) as { model: string };
      request.model = rename ?? ctx.model;
      return Buffer.from(JSON.stringify(request));
    }
    return ctx.dialect.upstreamBody(ctx.body, ctx.json!, rename, ctx.stream && !ctx.clientWantsStreamUsage);
  } catch (err) {
    if (err instanceof RangeError || err instanceof TranslationError) return err;
    throw err;
  }
}

/** One try on one channel and key, through `upstream` (direct or a proxy); null when the response was delivered. */
function attempt(gw: Gateway, ctx: RequestContext, upstream: Dispatcher, channel: ChannelRoute, key: UpstreamKey, protocol: AttemptProtocol, body: Buffer | undefined): Promise<Failure | null> {
  const cfg = gw.config.upstream;
  const { dialect, translation } = protocol;
  try {
    return startAttempt(upstream, {
      origin: channel.origin,
      path: dialect.upstreamPath(channel.basePath, translation === null ? ctx.endpoint.upstreamPath : translation.upstreamPath),
      method: 'POST',
      headers: dialect.upstreamHeaders(ctx.req.headers, ctx.stream, key.authHeader, key.authValue),
      body,
      headersTimeout: cfg.headersTimeoutMs,
      bodyTimeout: cfg.bodyTimeoutMs,
    }, ctx, channel.name, protocol, gw.countTokens, key.secret, ctx.endpoint.kind === 'embeddings' ? null : gw.filters.filterFor(channel.id, ctx.model, ctx.keyId), channel.firstTokenTimeoutMs).done;
  } catch (err) {
    // Invalid options throw synchronously: reported like a connect failure, without a cooldown.
    return Promise.resolve(connectFailure(channel.name, err, null));
  }
}
