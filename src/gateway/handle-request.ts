/**
 * The hot path: one client API request, stage by stage, top to bottom.
 *
 *   authenticate → read request → key may use the model? → resolve model (any channel that serves it, natively
 *   or by translation) → [plan caching] → admit (limits + credits) → [serve a cache hit]
 *   → relay (pick channel/key, failover, stream) → [store the answer] → finishRequest (settle, record, metrics)
 *
 * The bracketed stages (cache-stage.ts) run only when the response cache is on
 * (gw.responseCache); a request it does not concern pays one null check.
 *
 * Served by plain node:http (no router, no framework hooks): this path is
 * where the gateway's cost per request is decided.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Errors, type ErrorSpec } from '../errors.ts';
import { retryAfterSeconds } from '../limiter/rate-limit-headers.ts';
import { RequestContext } from './context.ts';
import { authenticate } from './authenticate.ts';
import { readModelRequest } from './read-request.ts';
import { admit } from './admission.ts';
import { relay } from './relay.ts';
import { finishRequest } from './record-usage.ts';
import { writeErrorResponse } from '../upstream/response-head.ts';
import { listModels } from './list-models.ts';
import { countTokens } from './count-tokens.ts';
import { planCaching, serveCached, storeAnswer } from './cache-stage.ts';
import type { Endpoint } from '../edge/endpoints.ts';
import type { Gateway } from './gateway.ts';

export function handleApiRequest(gw: Gateway, req: IncomingMessage, res: ServerResponse, endpoint: Endpoint): void {
  const ctx = new RequestContext(req, res, endpoint, performance.now());
  gw.active.add(ctx);
  res.on('close', () => onClientClose(gw, ctx));
  serve(gw, ctx).then(
    () => finishRequest(gw, ctx),
    (err) => {
      gw.onError(err, ctx);
      ctx.outcome = 'internal_error';
      if (!ctx.committed) writeErrorResponse(ctx, Errors.internal);
      else res.destroy();
      finishRequest(gw, ctx);
    },
  );
}

async function serve(gw: Gateway, ctx: RequestContext): Promise<void> {
  if (gw.draining) return reject(ctx, Errors.shuttingDown, 'refused');
  const pending = authenticate(gw, ctx);
  const authError = pending instanceof Promise ? await pending : pending;
  if (authError !== null) return reject(ctx, authError, 'unauthorized');
  if (gw.tracer !== null) ctx.authenticatedAt = performance.now();
  if (ctx.endpoint.kind === 'models') return listModels(gw, ctx);

  const bad = await readModelRequest(ctx, gw.config.bodyLimitBytes, gw.config.server.bodyIdleTimeoutMs);
  if (bad !== null) return reject(ctx, bad.error, 'bad_request', bad.message, bad.param);
  if (ctx.allowedModels !== null && !ctx.allowedModels.has(ctx.model)) {
    return reject(ctx, Errors.modelNotAllowed, 'refused', `This API key may not use the model '${ctx.model}'; it may use: ${[...ctx.allowedModels].join(', ')}.`, 'model');
  }

  ctx.modelRoute = gw.routes.routeFor(ctx.endpoint, ctx.model);
  if (ctx.modelRoute === null) {
    return reject(ctx, Errors.modelNotFound, 'not_found', `The model '${ctx.model}' does not exist or you do not have access to it.`, 'model');
  }
  if (ctx.endpoint.kind === 'count_tokens') return countTokens(ctx);
  if (gw.responseCache !== null) {
    const badHeader = planCaching(gw, ctx);
    if (badHeader !== null) return reject(ctx, badHeader, 'bad_request', undefined, 'x-tollgate-cache');
  }

  const refusal = await admit(gw, ctx);
  if (refusal !== null) {
    if (refusal.limit !== undefined) ctx.res.setHeader('retry-after', retryAfterSeconds(refusal.limit.retryAfterMs));
    return reject(ctx, refusal.error, 'refused', refusal.message);
  }
  if (gw.tracer !== null) ctx.admittedAt = performance.now();
  if (ctx.clientGone) {
    ctx.outcome = 'client_abort';
    ctx.status = 499;
    return;
  }
  if (ctx.cacheKey !== null && await serveCached(gw, ctx)) return;
  await relay(gw, ctx);
  if (ctx.cacheCapture !== null) storeAnswer(gw, ctx);
}

function reject(ctx: RequestContext, error: ErrorSpec, outcome: RequestContext['outcome'], message?: string, param?: string): void {
  ctx.outcome = outcome;
  // An unread body must be drained so the connection can carry the next request,
  // unless the connection closes after this answer (body over the limit, idle client).
  if (!ctx.req.complete && ctx.res.shouldKeepAlive) ctx.req.resume();
  if (error === Errors.storeUnavailable) ctx.res.setHeader('retry-after', '1');
  writeErrorResponse(ctx, error, message, error.status, param ?? null);
}

/** The client went away (or the response finished: 'close' fires for both). */
function onClientClose(gw: Gateway, ctx: RequestContext): void {
  if (ctx.res.writableFinished || ctx.finished) return;
  ctx.clientGone = true;
  const { onClientAbort, drainTimeoutMs } = gw.config.upstream;
  if (onClientAbort === 'abort' || !ctx.committed) ctx.cancel('client');
  else {
    ctx.attempt?.resumeReading();
    setTimeout(() => ctx.cancel('client'), drainTimeoutMs).unref();
  }
}
