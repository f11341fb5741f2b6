/**
 * The response cache's stages on the hot path (src/cache/response-cache.ts
 * decides who uses it):
 *
 *   planCaching   after the model and route are known, before admission:
 *                 the request's mode and key (the key is taken from the body
 *                 as the client sent it, before admission may add a bound);
 *   serveCached   after admission: a hit replays the stored answer, else the
 *                 request leads the single flight of its key (or follows one
 *                 whose leader failed) and is relayed;
 *   storeAnswer   after the relay: a complete, successful, unrefused answer
 *                 becomes the entry, and the flight's waiters get it.
 *
 * A hit has passed admission like any request (see docs/cache.md for why).
 */
import { Errors, type ErrorSpec } from '../errors.ts';
import { isRefusedAnswer, type CachedAnswer } from '../cache/cached-answer.ts';
import { AnswerCapture } from '../upstream/capture-answer.ts';
import { writeResponseHead } from '../upstream/response-head.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

/** Sets the request's cache mode and key; an ErrorSpec for an x-tollgate-cache value that is none of use/refresh/skip. */
export function planCaching(gw: Gateway, ctx: RequestContext): ErrorSpec | null {
  const cache = gw.responseCache!;
  const mode = cache.modeFor(ctx.req.headers['x-tollgate-cache'], ctx.keyCachesAnswers, ctx.model);
  if (mode === null) return Errors.invalidCacheHeader;
  ctx.cacheStatus = 'bypass';
  if (mode === 'bypass' || ctx.json === null || gw.filters.mayFilter(ctx.model, ctx.keyId)) return null;
  try {
    ctx.cacheKey = cache.keyFor(ctx.endpoint.upstreamPath, ctx.userId, ctx.json);
  } catch (err) {
    if (err instanceof RangeError) return null; // nested too deeply to canonicalise: relayed uncached (the relay answers it)
    throw err;
  }
  ctx.cacheStatus = mode === 'refresh' ? 'refresh' : 'miss';
  ctx.cacheCapture = new AnswerCapture(cache.maxEntryBytes);
  return null;
}

/** Answers the request from the cache when it holds the answer; false: relay it. */
export async function serveCached(gw: Gateway, ctx: RequestContext): Promise<boolean> {
  if (ctx.cacheStatus !== 'miss') return false;
  const found = await gw.responseCache!.entries.lookup(ctx.cacheKey!);
  const answer = found.value;
  if (answer === null || answer.stream !== ctx.stream) {
    ctx.cacheFlight = found.flight;
    gw.metrics?.cacheLookup('response', false);
    return false;
  }
  gw.metrics?.cacheLookup('response', true);
  replay(ctx, answer);
  return true;
}

/** Sends a stored answer: the bytes the original client got, head first as a relayed answer would have it. */
function replay(ctx: RequestContext, answer: CachedAnswer): void {
  ctx.cacheStatus = 'hit';
  ctx.outcome = 'cache_hit';
  ctx.cacheCapture = null;
  ctx.cachedChannelId = answer.channelId;
  ctx.promptTokens = answer.promptTokens;
  ctx.completionTokens = answer.completionTokens;
  ctx.cachedTokens = answer.cachedTokens;
  ctx.cacheWriteTokens = answer.cacheWriteTokens;
  ctx.reasoningTokens = answer.reasoningTokens;
  ctx.usageReported = true;
  ctx.status = answer.status;
  if (ctx.clientGone) return;
  writeResponseHead(ctx, answer.status, answer.contentType, ctx.stream ? -1 : answer.body.length);
  if (ctx.stream) ctx.ttftMs = performance.now() - ctx.startedAt;
  ctx.res.end(answer.body);
}

/**
 * After the relay: stores the answer when it is whole and good, and settles
 * the flight either way. The shared write (L2) is not awaited: the client has
 * its answer, and L1 and the waiters have the entry already.
 */
export function storeAnswer(gw: Gateway, ctx: RequestContext): void {
  const capture = ctx.cacheCapture;
  const flight = ctx.cacheFlight;
  ctx.cacheCapture = null;
  ctx.cacheFlight = null;
  if (capture === null) return;
  const ok = ctx.outcome === 'ok' && ctx.errorClass === null && ctx.cancelled === null && !ctx.clientGone && capture.status >= 200 && capture.status < 300;
  const body = ok ? capture.take() : null;
  if (body === null || isRefusedAnswer(body)) {
    flight?.settle(null);
    return;
  }
  const answer: CachedAnswer = {
    status: capture.status,
    contentType: capture.contentType !== '' ? capture.contentType : ctx.stream ? 'text/event-stream' : 'application/json',
    stream: ctx.stream,
    body,
    promptTokens: ctx.promptTokens,
    completionTokens: ctx.completionTokens,
    cachedTokens: ctx.cachedTokens,
    cacheWriteTokens: ctx.cacheWriteTokens,
    reasoningTokens: ctx.reasoningTokens,
    channelId: ctx.upstreamChannel?.id ?? null,
  };
  void gw.responseCache!.entries.store(ctx.cacheKey!, answer, flight, ctx.cacheStatus === 'refresh');
}
