/**
 * The one catalog of client-visible errors and the one place that turns them
 * into OpenAI's error JSON: `{"error":{"message","type","param","code"}}`.
 */
import type { ServerResponse } from 'node:http';

export interface ErrorSpec { readonly status: number; readonly type: string; readonly code: string; readonly message: string }

const spec = (status: number, type: string, code: string, message: string): ErrorSpec => ({ status, type, code, message });

/** Every error a client can get from Tollgate. `message` is the default; callers may give a more precise one. */
export const Errors = {
  invalidJson: spec(400, 'invalid_request_error', 'invalid_json', 'The request body is not valid JSON.'),
  invalidBody: spec(400, 'invalid_request_error', 'invalid_request', 'The request body is invalid.'),
  missingModel: spec(400, 'invalid_request_error', 'missing_model', 'You must provide a model parameter.'),
  invalidCacheHeader: spec(400, 'invalid_request_error', 'invalid_cache_header', "The x-tollgate-cache header must be 'use', 'refresh' or 'skip'."),
  badQuery: spec(400, 'invalid_request_error', 'invalid_query', 'A query parameter is invalid.'),
  missingKey: spec(401, 'invalid_request_error', 'missing_api_key', 'You did not provide an API key. Use "Authorization: Bearer <key>" or "x-api-key: <key>".'),
  invalidKey: spec(401, 'invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.'),
  revokedKey: spec(401, 'invalid_request_error', 'invalid_api_key', 'This API key has been revoked.'),
  keyExpired: spec(401, 'invalid_request_error', 'key_expired', 'This API key has expired; ask the operator for a new key or a later expiry.'),
  userDisabled: spec(403, 'permission_error', 'user_disabled', 'This account is disabled.'),
  ipNotAllowed: spec(403, 'permission_error', 'ip_not_allowed', 'This API key may not be used from this address.'),
  modelNotAllowed: spec(403, 'permission_error', 'model_not_allowed', 'This API key may not use this model.'),
  adminTokenRequired: spec(401, 'invalid_request_error', 'invalid_admin_token', 'A valid admin token is required.'),
  adminDisabled: spec(403, 'permission_error', 'admin_disabled', 'The admin API is disabled: set TOLLGATE_ADMIN_TOKEN.'),
  insufficientCredits: spec(402, 'insufficient_quota', 'insufficient_quota', 'You do not have enough credits for this request.'),
  budgetExceeded: spec(402, 'insufficient_quota', 'budget_exceeded', 'The spend budget for this period is used up.'),
  modelNotFound: spec(404, 'invalid_request_error', 'model_not_found', 'The model does not exist or you do not have access to it.'),
  modelNotPriced: spec(403, 'permission_error', 'model_not_priced', 'The model has no price configured; ask the operator to set one.'),
  responseNotFound: spec(404, 'invalid_request_error', 'response_not_found', 'No response with this id was found.'),
  routeNotFound: spec(404, 'invalid_request_error', 'unknown_url', 'Unknown request URL.'),
  methodNotAllowed: spec(405, 'invalid_request_error', 'method_not_allowed', 'Method not allowed for this URL.'),
  requestTimeout: spec(408, 'invalid_request_error', 'request_timeout', 'The request body was not received in time.'),
  bodyTooLarge: spec(413, 'invalid_request_error', 'request_too_large', 'The request body is too large.'),
  unsupportedMediaType: spec(415, 'invalid_request_error', 'unsupported_media_type', 'Content-Type must be application/json.'),
  rateLimited: spec(429, 'rate_limit_exceeded', 'rate_limit_exceeded', 'Rate limit reached.'),
  upstreamError: spec(502, 'api_error', 'upstream_error', 'The upstream provider failed.'),
  noChannel: spec(503, 'api_error', 'no_available_channel', 'No upstream channel is available for this model.'),
  limiterUnavailable: spec(503, 'api_error', 'limiter_unavailable', 'The rate limiter is unavailable.'),
  ledgerUnavailable: spec(503, 'api_error', 'ledger_unavailable', 'The credit ledger is unavailable; priced requests cannot be admitted at the moment. Retry shortly.'),
  storeUnavailable: spec(503, 'api_error', 'store_unavailable', 'The gateway cannot reach its database at the moment; retry shortly.'),
  shuttingDown: spec(503, 'api_error', 'shutting_down', 'The gateway is shutting down.'),
  upstreamTimeout: spec(504, 'api_error', 'upstream_timeout', 'The upstream provider timed out.'),
  internal: spec(500, 'api_error', 'internal_error', 'Internal gateway error.'),
} as const satisfies Record<string, ErrorSpec>;

/**
 * The 404 text for a URL no route serves: names what was asked (the path
 * without its query, which may carry secrets, and cut to a readable length)
 * and where the supported ones are listed.
 */
export function unknownUrlMessage(method: string | undefined, url: string | undefined): string {
  const path = (url ?? '/').split('?', 1)[0];
  return `Unknown request URL: ${method ?? 'GET'} ${path.length > 200 ? `${path.slice(0, 200)}…` : path}. ` +
    'The client API is POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses, /v1/messages, /v1/messages/count_tokens ' +
    'and GET /v1/models; the full list is in the README, section API.';
}

/** Serialise an error in OpenAI's shape. */
export function errorBody(e: ErrorSpec, message?: string, param: string | null = null): string {
  return JSON.stringify({ error: { message: message ?? e.message, type: e.type, param, code: e.code } });
}

/** Write an error response unless headers already went out (then the connection is just ended). */
export function sendError(res: ServerResponse, e: ErrorSpec, message?: string, param: string | null = null, status = e.status): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendErrorBody(res, status, errorBody(e, message, param));
}

/** Write a serialised error body (any protocol's shape) unless headers already went out. */
export function sendErrorBody(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
