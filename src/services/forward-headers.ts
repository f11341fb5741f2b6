/**
 * Which headers cross a service hop. Hop-by-hop headers (RFC 9110 §7.6.1)
 * never do; the caller's Tollgate key stays here; the hop's own headers are
 * added by the hop code. Everything else passes untouched.
 */
import type { IncomingHttpHeaders } from 'node:http';

const DROP_REQUEST: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
  'authorization', 'x-api-key', 'x-tollgate-hop', 'x-tollgate-hop-len',
]);
const DROP_RESPONSE: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'x-tollgate-hop', 'x-tollgate-hop-reply',
]);

/** Request headers for the upstream: a new object, the caller's id added. */
export function requestHeaders(headers: IncomingHttpHeaders, callerId: number, dropLength: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || DROP_REQUEST.has(name)) continue;
    if (dropLength && name === 'content-length') continue;
    out[name] = v;
  }
  out['x-tollgate-caller'] = String(callerId);
  return out;
}

/** Response headers for the client, hop-by-hop ones removed (and content-length when the body is re-framed). */
export function responseHeaders(headers: IncomingHttpHeaders, dropLength: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || DROP_RESPONSE.has(name)) continue;
    if (dropLength && name === 'content-length') continue;
    out[name] = v;
  }
  return out;
}

/** Whether a request carries a body (RFC 9112 §6.3). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  const len = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}
