/**
 * The response head every hot-path answer carries: request id, time to
 * headers, the gateway's own share of it, and the rate-limit headers.
 */
import { sendError, type ErrorSpec } from '../errors.ts';
import { writeRateLimitHeaders } from '../limiter/rate-limit-headers.ts';
import type { RequestContext } from './context.ts';

/** Sends the head once; marks the request committed (no retry after this). */
export function writeResponseHead(ctx: RequestContext, status: number, contentType: string | string[], contentLength: number): void {
  const res = ctx.res;
  const now = performance.now();
  res.setHeader('content-type', contentType);
  if (contentLength >= 0) res.setHeader('content-length', contentLength);
  if (ctx.stream) res.setHeader('cache-control', 'no-cache');
  stampCommonHeaders(ctx, now);
  if (ctx.upstreamHeadersAt > 0) {
    const overhead = now - ctx.startedAt - (ctx.upstreamHeadersAt - ctx.upstreamStartedAt);
    res.setHeader('x-tollgate-overhead-ms', (overhead > 0 ? overhead : 0).toFixed(2));
  }
  res.writeHead(status);
  ctx.committed = true;
}

/** An error answer from the gateway itself, in OpenAI's shape. */
export function writeErrorResponse(ctx: RequestContext, error: ErrorSpec, message?: string, status = error.status, param: string | null = null): void {
  ctx.status = status;
  if (!ctx.res.headersSent) stampCommonHeaders(ctx, performance.now());
  sendError(ctx.res, error, message, param, status);
  ctx.committed = true;
}

function stampCommonHeaders(ctx: RequestContext, now: number): void {
  const res = ctx.res;
  res.setHeader('x-request-id', ctx.requestId);
  res.setHeader('x-response-time-ms', (now - ctx.startedAt).toFixed(2));
  if (ctx.rateLimit !== null) writeRateLimitHeaders(res, ctx.rateLimit);
}
