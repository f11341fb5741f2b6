// Calls to the token-guarded operator API. The token lives in sessionStorage
// (this tab only, gone when it closes) and goes out as a bearer token on
// every call; nothing else is stored.

const TOKEN_KEY = 'tollgate.adminToken';

/** A refused or failed call, with the API's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};

/** What to do when the token stops working (revoked, server restarted with another). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Builds `path?query` from an object, skipping empty values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs === '' ? path : `${path}?${qs}`;
}

/**
 * Calls `path` (relative to the site root, e.g. `/admin/users`) with the
 * token. Resolves to the parsed JSON; rejects with an ApiError carrying the
 * API's message. `token` overrides the stored one (used to check a login).
 */
export async function api(path, { method = 'GET', body, token = getToken() } = {}) {
  const headers = { authorization: `Bearer ${token ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  // Relative to /dashboard/, so the page also works behind a path prefix.
  const url = new URL(`..${path}`, document.baseURI);
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'Tollgate is not reachable.');
  }
  const text = await res.text();
  let json = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): fall through with the status only.
  }
  if (!res.ok) {
    const message = json?.error?.message ?? `HTTP ${res.status}`;
    if (res.status === 401 && token === getToken()) onUnauthorized(message);
    throw new ApiError(res.status, message);
  }
  return json;
}
