/**
 * The stored Responses API objects: `GET` and `DELETE /v1/responses/{id}`,
 * `POST /v1/responses/{id}/cancel` and `GET /v1/responses/{id}/input_items`.
 * The caller is authenticated like any /v1 request; the response's owner comes
 * from the request that created it (response-owners.ts). An id the gateway
 * never saw and an id another user created get the same 404, so existence
 * does not leak. The call then goes to the channel that stored the response,
 * with the key that created it when that key is still there, through the
 * caller's egress, and the upstream's answer is streamed back untouched.
 *
 * No tokens are spent, so nothing is metered or admitted against limits.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { Errors, sendError, type ErrorSpec } from '../errors.ts';
import { pickKey, type ChannelRoute } from '../routing/route-table.ts';
import { UNAVAILABLE_BINDING } from '../routing/proxy-table.ts';
import { dialectFor } from '../providers/index.ts';
import { identifyCaller } from './authenticate.ts';
import type { KeyIdentity } from '../keys/key-cache.ts';
import type { Gateway } from './gateway.ts';

export const STORED_RESPONSE_PREFIX = '/v1/responses/';

/** One call on a stored response, from its method and path; null when the path is not one. */
interface StoredCall { readonly id: string; readonly method: 'GET' | 'DELETE' | 'POST'; readonly suffix: '' | '/cancel' | '/input_items' }

const SUFFIX_METHODS: ReadonlyMap<string, readonly string[]> = new Map([['', ['GET', 'DELETE']], ['/cancel', ['POST']], ['/input_items', ['GET']]]);
// Response ids are short tokens (`resp_…`); anything else is not one the gateway could have recorded.
const ID = /^[A-Za-z0-9_-]{1,200}$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'trailer', 'te']);

export function handleStoredResponse(gw: Gateway, req: IncomingMessage, res: ServerResponse, path: string): void {
  serve(gw, req, res, path).catch(() => {
    if (!res.headersSent) sendError(res, Errors.internal);
    else res.destroy();
  });
}

async function serve(gw: Gateway, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  // No call here has a body worth reading (cancel's is empty): drain whatever came.
  req.resume();
  if (gw.draining) return sendError(res, Errors.shuttingDown);
  const rest = path.slice(STORED_RESPONSE_PREFIX.length);
  const slash = rest.indexOf('/');
  const id = slash === -1 ? rest : rest.slice(0, slash);
  const suffix = slash === -1 ? '' : rest.slice(slash);
  const methods = SUFFIX_METHODS.get(suffix);
  if (methods === undefined || id === '') return sendError(res, Errors.routeNotFound, `Unknown request URL: ${req.method} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}.`);
  if (!methods.includes(req.method ?? '')) return sendError(res, Errors.methodNotAllowed);

  const pending = identifyCaller(gw, req, Date.now());
  const caller = pending instanceof Promise ? await pending : pending;
  if ('status' in caller) {
    if (caller === Errors.storeUnavailable) res.setHeader('retry-after', '1');
    return sendError(res, caller);
  }
  if (!ID.test(id)) return notFound(res, id);
  const call: StoredCall = { id, method: req.method as StoredCall['method'], suffix: suffix as StoredCall['suffix'] };
  await relayStored(gw, req, res, caller, call);
}

async function relayStored(gw: Gateway, req: IncomingMessage, res: ServerResponse, caller: KeyIdentity, call: StoredCall): Promise<void> {
  let owner;
  try {
    owner = await gw.responseOwners.find(call.id);
  } catch (err) {
    gw.storeHealth.failed(Date.now());
    gw.onStoreError(err);
    res.setHeader('retry-after', '1');
    return sendError(res, Errors.storeUnavailable);
  }
  if (owner === undefined || owner.userId !== caller.userId) return notFound(res, call.id);
  const channel = gw.routes.channels.find((c) => c.id === owner.channelId);
  if (channel === undefined) return refuse(res, Errors.noChannel, 'The channel that stored this response is disabled or removed.');
  const key = channel.keys.find((k) => k.id === owner.channelKeyId) ?? pickKey(channel, Date.now());
  if (key === null) return refuse(res, Errors.noChannel, `Channel '${channel.name}' has no upstream key.`);
  const upstream = egressOf(gw, caller, channel);
  if (upstream === null) return refuse(res, Errors.noChannel, 'The outbound proxy this key or user is bound to is disabled or removed; its traffic is not sent any other way.');

  const dialect = dialectFor('responses');
  const query = queryOf(req.url ?? '');
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  let answer: Dispatcher.ResponseData;
  try {
    answer = await upstream.request({
      origin: channel.origin,
      path: dialect.upstreamPath(channel.basePath, `/responses/${call.id}${call.suffix}`) + (call.suffix === '/input_items' ? query : ''),
      method: call.method,
      headers: dialect.upstreamHeaders(req.headers, false, key.authHeader, key.authValue),
      body: call.method === 'POST' ? '' : undefined,
      headersTimeout: gw.config.upstream.headersTimeoutMs,
      bodyTimeout: gw.config.upstream.bodyTimeoutMs,
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) return;
    const timedOut = (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT';
    return refuse(res, timedOut ? Errors.upstreamTimeout : Errors.upstreamError, `Channel '${channel.name}' could not be reached for this response.`);
  }
  res.writeHead(answer.statusCode, forwardedHeaders(answer.headers));
  answer.body.on('error', () => res.destroy());
  answer.body.pipe(res);
}

/** The caller's bound proxy, else the channel's pool, else direct; null when the binding's proxy is gone. */
function egressOf(gw: Gateway, caller: KeyIdentity, channel: ChannelRoute): Dispatcher | null {
  const bound = gw.proxies.bound(caller.userId, caller.keyId);
  if (bound === UNAVAILABLE_BINDING) return null;
  if (bound !== undefined) return bound.dispatcher;
  return gw.proxies.pick(channel.id, Date.now())?.dispatcher ?? gw.upstream;
}

function forwardedHeaders(headers: Dispatcher.ResponseData['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function queryOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q);
}

function notFound(res: ServerResponse, id: string): void {
  sendError(res, Errors.responseNotFound, `No response with id '${id.length > 200 ? `${id.slice(0, 200)}…` : id}' was found. ` +
    'Only responses created through this gateway by this account on a channel that speaks the Responses API natively can be retrieved; ' +
    'a channel that answers by translation stores nothing.');
}

function refuse(res: ServerResponse, error: ErrorSpec, message: string): void {
  sendError(res, error, message);
}
