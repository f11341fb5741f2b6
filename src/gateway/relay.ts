/**
 * Stage 4: relay to an upstream, with failover. Each attempt picks a channel
 * and key; a connect error, timeout, 401/403/429 or 5xx before any byte reached
 * the client cools that key or channel down and moves to the next candidate.
 * Once a byte went to the client the request is committed and never retried.
 *
 * Bytes are streamed through as they arrive; the response is never buffered.
 */
import type { Dispatcher } from 'undici';
import { Errors, type ErrorSpec } from '../errors.ts';
import { pickKey, type ChannelRoute, type UpstreamKey } from '../routing/route-table.ts';
import { SseScanner } from '../relay/sse-scanner.ts';
import { usageFromBody } from '../relay/usage.ts';
import { writeResponseHead, writeErrorResponse } from './response-head.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

interface Failure { readonly error: ErrorSpec; readonly status: number; readonly message: string; readonly errorClass: string }

const INCLUDE_USAGE = Buffer.from('{"stream_options":{"include_usage":true},');
const MAX_ERROR_BODY = 4096;

export async function relay(gw: Gateway, ctx: RequestContext): Promise<void> {
  const now = Date.now();
  const order = gw.routes.attemptOrder(ctx.modelRoute!, gw.config.upstream.maxAttempts, now);
  let failure: Failure | null = null;
  ctx.upstreamStartedAt = performance.now();
  for (const channel of order) {
    if (ctx.clientGone) break;
    const key = pickKey(channel, now);
    if (key === null) {
      failure = { error: Errors.noChannel, status: 503, message: `Channel '${channel.name}' has no upstream key.`, errorClass: 'no_key' };
      continue;
    }
    if (ctx.attempts > 0) gw.metrics?.failover(channel.name, failure?.errorClass ?? 'unknown');
    ctx.attempts++;
    ctx.upstreamChannel = channel;
    ctx.upstreamKey = key;
    ctx.channel = channel.name;
    failure = await attempt(gw, ctx, channel, key);
    if (failure === null) {
      gw.health.succeed(channel.health);
      gw.health.succeed(key.health);
      break;
    }
    if (ctx.committed) break; // failed after the first byte: nothing more to do
  }
  ctx.upstreamMs = performance.now() - ctx.upstreamStartedAt;
  if (failure !== null) {
    ctx.errorClass = failure.errorClass;
    if (ctx.clientGone) {
      ctx.outcome = 'client_abort';
      if (!ctx.committed) ctx.status = 499;
    } else if (!ctx.committed) {
      ctx.outcome = 'upstream_error';
      ctx.status = failure.status;
      writeErrorResponse(ctx, failure.error, failure.message, failure.status);
    }
  }
}

/** One try on one channel and key; null when the response was delivered. */
async function attempt(gw: Gateway, ctx: RequestContext, channel: ChannelRoute, key: UpstreamKey): Promise<Failure | null> {
  const body = upstreamBody(ctx, channel);
  const cfg = gw.config.upstream;
  let response: Dispatcher.ResponseData;
  try {
    response = await gw.upstream.request({
      origin: channel.origin,
      path: upstreamPath(ctx, channel),
      method: 'POST',
      headers: upstreamHeaders(ctx, key),
      body,
      signal: ctx.abort.signal,
      headersTimeout: cfg.headersTimeoutMs,
      bodyTimeout: cfg.bodyTimeoutMs,
    });
  } catch (err) {
    if (ctx.clientGone) return { error: Errors.upstreamError, status: 499, message: 'client closed the request', errorClass: 'client_abort' };
    gw.health.fail(channel.health, Date.now());
    gw.metrics?.cooldown(channel.name);
    return connectFailure(channel, err);
  }
  ctx.upstreamHeadersAt = performance.now();
  const status = response.statusCode;
  if (status === 429 || status === 401 || status === 403 || status >= 500) {
    const text = await readErrorText(response.body);
    gw.health.fail(status >= 500 ? channel.health : key.health, Date.now());
    gw.metrics?.cooldown(channel.name);
    return {
      error: status === 429 ? Errors.rateLimited : Errors.upstreamError,
      status: status === 429 ? 429 : 502,
      message: `Upstream channel '${channel.name}' answered ${status}: ${text}`,
      errorClass: status === 429 ? 'upstream_429' : status >= 500 ? 'upstream_5xx' : 'upstream_auth',
    };
  }
  ctx.status = status;
  if (status >= 400) ctx.outcome = 'upstream_error';
  try {
    if (ctx.stream && status === 200) await forwardStream(gw, ctx, response);
    else await forwardBody(gw, ctx, response);
    return null;
  } catch (err) {
    if (ctx.clientGone) return { error: Errors.upstreamError, status: 499, message: 'client closed the request', errorClass: 'client_abort' };
    if (!ctx.committed) gw.health.fail(channel.health, Date.now());
    const failure = connectFailure(channel, err);
    if (ctx.committed) {
      // Cut after the first byte: the client already has a 200; end its stream.
      ctx.outcome = gw.draining && ctx.abort.signal.aborted ? 'shutdown_cut' : 'upstream_error';
      ctx.res.end();
    }
    return failure;
  }
}

/** Streamed answer: pass SSE bytes through, scanning each line once for usage and token counts. */
async function forwardStream(gw: Gateway, ctx: RequestContext, response: Dispatcher.ResponseData): Promise<void> {
  const scanner = new SseScanner(!ctx.clientWantsStreamUsage, gw.countTokens);
  const res = ctx.res;
  try {
    for await (const chunk of response.body) {
      const out = scanner.push(chunk as Buffer);
      if (!ctx.committed) {
        writeResponseHead(ctx, 200, response.headers['content-type'] ?? 'text/event-stream', -1);
        ctx.ttftMs = performance.now() - ctx.startedAt;
      }
      if (ctx.clientGone) continue; // drain mode: keep reading for the final usage
      if (out.length > 0 && !res.write(out)) await waitForDrain(ctx);
    }
    const rest = scanner.end();
    if (!ctx.committed) writeResponseHead(ctx, 200, response.headers['content-type'] ?? 'text/event-stream', -1);
    if (rest !== null && rest.length > 0 && !ctx.clientGone) res.write(rest);
    if (!ctx.clientGone) res.end();
  } finally {
    takeUsage(ctx, scanner);
  }
}

function takeUsage(ctx: RequestContext, scanner: SseScanner): void {
  if (scanner.usage !== null) {
    ctx.usageReported = true;
    ctx.promptTokens = scanner.usage.promptTokens;
    ctx.completionTokens = scanner.usage.completionTokens;
  } else ctx.completionTokens = scanner.countedCompletionTokens;
}

/** Whole answer (non-streamed, or an upstream client error): forward as received, keep only the tail for usage. */
async function forwardBody(gw: Gateway, ctx: RequestContext, response: Dispatcher.ResponseData): Promise<void> {
  const res = ctx.res;
  const lengthHeader = response.headers['content-length'];
  const length = typeof lengthHeader === 'string' ? Number(lengthHeader) : -1;
  const contentType = response.headers['content-type'] ?? 'application/json';
  // The usage object closes an OpenAI body, so the last two chunks hold it.
  let previous: Buffer | null = null;
  let last: Buffer | null = null;
  for await (const chunk of response.body) {
    // The head goes out with the first body byte, so a reset before it is still retried.
    if (!ctx.committed) writeResponseHead(ctx, ctx.status, contentType, length);
    previous = last;
    last = chunk as Buffer;
    if (!ctx.clientGone && !res.write(last)) await waitForDrain(ctx);
  }
  if (!ctx.committed) writeResponseHead(ctx, ctx.status, contentType, length);
  if (!ctx.clientGone) res.end();
  if (ctx.status < 300 && last !== null) {
    const usage = usageFromBody(previous === null ? last : Buffer.concat([previous, last]));
    if (usage !== null) {
      ctx.usageReported = true;
      ctx.promptTokens = usage.promptTokens;
      ctx.completionTokens = usage.completionTokens;
    }
  }
}

function waitForDrain(ctx: RequestContext): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      ctx.res.off('drain', done);
      ctx.res.off('close', done);
      resolve();
    };
    ctx.res.on('drain', done);
    ctx.res.on('close', done);
  });
}

/**
 * The client's bytes, untouched unless the channel renames the model or the
 * gateway must ask for stream usage. The common change — adding
 * stream_options — is a splice after the opening brace, not a re-serialisation.
 */
function upstreamBody(ctx: RequestContext, channel: ChannelRoute): Buffer | undefined {
  const body = ctx.body;
  if (body === null) return undefined;
  const rename = channel.renames.get(ctx.model);
  const injectUsage = ctx.stream && !ctx.clientWantsStreamUsage;
  if (rename === undefined && !injectUsage) return body;
  const json = ctx.json!;
  if (rename === undefined && json.stream_options === undefined) {
    const brace = body.indexOf(0x7b);
    return Buffer.concat([INCLUDE_USAGE, body.subarray(brace + 1)]);
  }
  const copy: Record<string, any> = { ...json };
  if (rename !== undefined) copy.model = rename;
  if (injectUsage) copy.stream_options = { ...json.stream_options, include_usage: true };
  return Buffer.from(JSON.stringify(copy));
}

const ANTHROPIC_VERSION = '2023-06-01';

function upstreamHeaders(ctx: RequestContext, key: UpstreamKey): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: ctx.stream ? 'text/event-stream' : 'application/json' };
  headers[key.authHeader] = key.authValue;
  if (ctx.endpoint.protocol === 'anthropic') {
    const client = ctx.req.headers;
    headers['anthropic-version'] = typeof client['anthropic-version'] === 'string' ? client['anthropic-version'] : ANTHROPIC_VERSION;
    if (typeof client['anthropic-beta'] === 'string') headers['anthropic-beta'] = client['anthropic-beta'];
  }
  return headers;
}

function upstreamPath(ctx: RequestContext, channel: ChannelRoute): string {
  return channel.basePath === '' ? '/v1' + ctx.endpoint.upstreamPath : channel.basePath + ctx.endpoint.upstreamPath;
}

async function readErrorText(body: Dispatcher.ResponseData['body']): Promise<string> {
  try {
    const text = await body.text();
    try {
      const message = JSON.parse(text)?.error?.message;
      if (typeof message === 'string') return message.slice(0, MAX_ERROR_BODY);
    } catch {
      // not JSON: use the raw text
    }
    return text.slice(0, MAX_ERROR_BODY);
  } catch {
    return '(no body)';
  }
}

function connectFailure(channel: ChannelRoute, err: unknown): Failure {
  const code = (err as { code?: string }).code ?? 'ERROR';
  const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
  return {
    error: timeout ? Errors.upstreamTimeout : Errors.upstreamError,
    status: timeout ? 504 : 502,
    message: `Upstream channel '${channel.name}' failed: ${timeout ? 'timed out' : (err as Error).message ?? code}`,
    errorClass: timeout ? 'timeout' : code,
  };
}
