/**
 * The response head every hot-path answer carries: request id, time to
 * headers, the gateway's own share of it, and the rate-limit headers.
 */
import { errorBody, sendErrorBody, type ErrorSpec } from '../errors.ts';
import { anthropicErrorBody } from '../providers/translate/error-shape.ts';
import { pushRateLimitHeaders, writeRateLimitHeaders } from '../limiter/rate-limit-headers.ts';
import type { RequestContext } from '../gateway/context.ts';

/**
 * Sends the head once; marks the request committed (no retry after this).
 * One writeHead with a flat header list: Node then serialises the head in one
 * pass, where setHeader() per header validates and stores each in a map first
 * (with setHeader, this function was ~4 % of the gateway's CPU in a profile
 * under load).
 */
export function writeResponseHead(ctx: RequestContext, status: number, contentType: string | string[], contentLength: number): void {
  const now = performance.now();
  const headers = ['content-type', typeof contentType === 'string' ? contentType : contentType[0], 'x-request-id', ctx.requestId, 'x-response-time-ms', (now - ctx.startedAt).toFixed(2)];
  if (contentLength >= 0) headers.push('content-length', String(contentLength));
  if (ctx.stream) headers.push('cache-control', 'no-cache');
  if (ctx.upstreamHeadersAt > 0) {
    const overhead = now - ctx.startedAt - (ctx.upstreamHeadersAt - ctx.upstreamStartedAt);
    headers.push('x-tollgate-overhead-ms', (overhead > 0 ? overhead : 0).toFixed(2));
  }
  if (ctx.rateLimit !== null) pushRateLimitHeaders(headers, ctx.rateLimit);
  if (ctx.cacheStatus !== null) headers.push('x-tollgate-cache-status', ctx.cacheStatus);
  ctx.res.writeHead(status, headers);
  ctx.committed = true;
}

/** An error answer from the gateway itself, in the client's protocol: Anthropic's shape on Messages, else OpenAI's. */
export function writeErrorResponse(ctx: RequestContext, error: ErrorSpec, message?: string, status = error.status, param: string | null = null): void {
  ctx.status = status;
  if (!ctx.res.headersSent) stampCommonHeaders(ctx, performance.now());
  const body = ctx.endpoint.protocol === 'anthropic' ? anthropicErrorBody(status, message ?? error.message) : errorBody(error, message, param);
  sendErrorBody(ctx.res, status, body);
  ctx.committed = true;
}

function stampCommonHeaders(ctx: RequestContext, now: number): void {
  const res = ctx.res;
  res.setHeader('x-request-id', ctx.requestId);
  res.setHeader('x-response-time-ms', (now - ctx.startedAt).toFixed(2));
  if (ctx.rateLimit !== null) writeRateLimitHeaders(res, ctx.rateLimit);
  if (ctx.cacheStatus !== null) res.setHeader('x-tollgate-cache-status', ctx.cacheStatus);
}
