/**
 * The key of an exact response cache entry: the endpoint, the scope (a user,
 * or everyone when shared) and the request body as canonical JSON — object
 * keys sorted at every depth, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the
 * same request — hashed with SHA-256.
 *
 * Fields left out of the key (they name or tag the caller, or steer the
 * provider's own prompt cache, and do not change the answer):
 * `user`, `metadata`, `safety_identifier`, `prompt_cache_key`.
 * Everything else counts, `stream` and `stream_options` included, since they
 * change the bytes of the answer.
 */
import { createHash } from 'node:crypto';

export const EXCLUDED_FIELDS: ReadonlySet<string> = new Set(['user', 'metadata', 'safety_identifier', 'prompt_cache_key']);

/**
 * Canonical JSON of a parsed body: top-level EXCLUDED_FIELDS dropped, keys
 * sorted. Hand-written because it is one short recursion and no dependency
 * of ours sorts keys. Throws RangeError on a nesting too deep for the stack,
 * like JSON.stringify.
 */
export function canonicalBody(body: Record<string, unknown>): string {
  const keys = Object.keys(body).filter((k) => !EXCLUDED_FIELDS.has(k)).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (body[keys[i]] === undefined) continue;
    if (out.length > 1) out += ',';
    out += JSON.stringify(keys[i]) + ':' + canonical(body[keys[i]]);
  }
  return out + '}';
}

function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonical(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (obj[keys[i]] === undefined) continue;
    if (out.length > 1) out += ',';
    out += JSON.stringify(keys[i]) + ':' + canonical(obj[keys[i]]);
  }
  return out + '}';
}

/** The entry key: `scope` is `u<userId>`, or `shared`. */
export function requestKey(endpointPath: string, scope: string, body: Record<string, unknown>): string {
  return createHash('sha256').update(endpointPath).update('\n').update(scope).update('\n').update(canonicalBody(body)).digest('base64url');
}
