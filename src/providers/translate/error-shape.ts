/**
 * Error bodies in each client protocol, so a translated request's errors (our own
 * 400s and the upstream's error answers) reach the client in its own shape:
 * OpenAI `{"error":{"message","type","param","code"}}` (chat and Responses) and
 * Anthropic `{"type":"error","error":{"type","message"}}`.
 */

/** The message and type of an upstream error body of either shape (null when it is neither). */
export function readErrorBody(body: unknown): { message: string; type: string } | null {
  if (body === null || typeof body !== 'object') return null;
  const error = (body as { error?: unknown }).error;
  if (error === null || typeof error !== 'object') return null;
  const { message, type } = error as { message?: unknown; type?: unknown };
  if (typeof message !== 'string') return null;
  return { message, type: typeof type === 'string' ? type : '' };
}

/** Anthropic's error type for an HTTP status (https://docs.anthropic.com/en/api/errors). */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** OpenAI's error type for an HTTP status. */
export function openaiErrorType(status: number): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status === 402) return 'insufficient_quota';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** An Anthropic error body. */
export function anthropicErrorBody(status: number, message: string): string {
  return JSON.stringify({ type: 'error', error: { type: anthropicErrorType(status), message } });
}

/** An OpenAI error body. */
export function openaiErrorBody(status: number, message: string, param: string | null = null, code: string | null = null): string {
  return JSON.stringify({ error: { message, type: openaiErrorType(status), param, code } });
}
