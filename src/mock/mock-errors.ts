/**
 * Error bodies of the mock upstream, in OpenAI's shape
 * (`{"error":{"message","type","param","code"}}`) or, on `/v1/messages`, Anthropic's
 * (`{"type":"error","error":{"type","message"}}`), as the real APIs send them.
 */

/** Which API's error shape to answer with. */
export type ErrorFlavour = 'openai' | 'anthropic';

interface StatusDefaults {
  message: string;
  openaiType: string;
  openaiCode: string | null;
  anthropicType: string;
}

function defaultsFor(status: number): StatusDefaults {
  switch (status) {
    case 400:
      return { message: 'Bad request (mock fault).', openaiType: 'invalid_request_error', openaiCode: null, anthropicType: 'invalid_request_error' };
    case 401:
      return { message: 'Incorrect API key provided (mock fault).', openaiType: 'invalid_request_error', openaiCode: 'invalid_api_key', anthropicType: 'authentication_error' };
    case 403:
      return { message: 'Permission denied (mock fault).', openaiType: 'invalid_request_error', openaiCode: 'permission_denied', anthropicType: 'permission_error' };
    case 404:
      return { message: 'Not found (mock fault).', openaiType: 'invalid_request_error', openaiCode: 'not_found', anthropicType: 'not_found_error' };
    case 413:
      return { message: 'Request too large (mock fault).', openaiType: 'invalid_request_error', openaiCode: null, anthropicType: 'request_too_large' };
    case 429:
      return { message: 'Rate limit reached (mock fault).', openaiType: 'requests', openaiCode: 'rate_limit_exceeded', anthropicType: 'rate_limit_error' };
    case 529:
      return { message: 'Overloaded (mock fault).', openaiType: 'server_error', openaiCode: null, anthropicType: 'overloaded_error' };
    default:
      return status >= 500
        ? { message: 'The server had an error while processing your request (mock fault).', openaiType: 'server_error', openaiCode: null, anthropicType: 'api_error' }
        : { message: 'Request failed (mock fault).', openaiType: 'invalid_request_error', openaiCode: null, anthropicType: 'invalid_request_error' };
  }
}

// Fault responses repeat the same few bodies, so each (flavour, status) is built once.
const faultBodies = new Map<number, string>();

/** The body answered for a `status` fault. */
export function faultErrorBody(status: number, flavour: ErrorFlavour): string {
  const key = flavour === 'openai' ? status : -status;
  let body = faultBodies.get(key);
  if (body === undefined) {
    const defaults = defaultsFor(status);
    body = flavour === 'openai'
      ? openaiError(defaults.message, defaults.openaiType, null, defaults.openaiCode)
      : anthropicError(defaults.message, defaults.anthropicType);
    faultBodies.set(key, body);
  }
  return body;
}

/** A request-validation error (400/404/413) with a specific message. */
export function requestErrorBody(status: number, flavour: ErrorFlavour, message: string, param: string | null, code: string | null): string {
  return flavour === 'openai' ? openaiError(message, 'invalid_request_error', param, code) : anthropicError(message, defaultsFor(status).anthropicType);
}

function openaiError(message: string, type: string, param: string | null, code: string | null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

function anthropicError(message: string, type: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}
