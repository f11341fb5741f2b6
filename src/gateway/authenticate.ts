/**
 * Stage 1: who is calling. One SHA-256 of the presented key and a cache lookup;
 * the store is asked only on a cache miss. Then the key's own rules, each O(1)
 * on the cached entry: expiry (a time compare, so a cached key stops at its
 * expiry) and the client address allow-list. The model allow-list waits for
 * the model (handle-request.ts).
 */
import type { IncomingMessage } from 'node:http';
import { hashClientKey, presentedKey } from '../keys/client-key.ts';
import type { KeyIdentity } from '../keys/key-cache.ts';
import { Errors, type ErrorSpec } from '../errors.ts';
import type { Gateway } from './gateway.ts';
import type { RequestContext } from './context.ts';

/** The caller's identity from its request, or the error to answer with. Also used by the account API and service routes. */
export async function identifyCaller(gw: Gateway, req: IncomingMessage, now: number): Promise<KeyIdentity | ErrorSpec> {
  const key = presentedKey(req.headers.authorization, req.headers['x-api-key']);
  if (key === '') return Errors.missingKey;
  const hash = hashClientKey(key);
  let identity: KeyIdentity | null | undefined = gw.keys.peek(hash, now);
  if (identity === undefined) {
    gw.metrics?.cacheLookup('keys', false);
    try {
      identity = (await gw.keys.load(hash)) ?? null;
      gw.storeHealth.succeeded();
    } catch (err) {
      // The store is down, not the key wrong: 503 (with Retry-After), and readiness turns unready.
      gw.storeHealth.failed(Date.now());
      gw.onStoreError(err);
      return Errors.storeUnavailable;
    }
  } else gw.metrics?.cacheLookup('keys', true);
  return judge(gw, req, identity, now);
}

/** The key's own rules on its cache entry (null: no such key). */
function judge(gw: Gateway, req: IncomingMessage, identity: KeyIdentity | null, now: number): KeyIdentity | ErrorSpec {
  if (identity === null) return Errors.invalidKey;
  if (identity.revoked) return Errors.revokedKey;
  if (now >= identity.expiresAt) return Errors.keyExpired;
  if (identity.userDisabled) return Errors.userDisabled;
  if (identity.ips !== null && !gw.clientAddress.allowed(req, identity.ips)) return Errors.ipNotAllowed;
  return identity;
}

/** Fills ctx.userId/keyId (and the key's model allow-list), or returns the error to send. */
export async function authenticate(gw: Gateway, ctx: RequestContext): Promise<ErrorSpec | null> {
  return adopt(ctx, await identifyCaller(gw, ctx.req, ctx.ts));
}

/**
 * authenticate without a promise when the answer needs no store read (the key
 * is cached, or no key was presented); undefined when it does (then call
 * authenticate). The hot path's common case costs no microtask this way.
 */
export function authenticateCached(gw: Gateway, ctx: RequestContext): ErrorSpec | null | undefined {
  const req = ctx.req;
  const key = presentedKey(req.headers.authorization, req.headers['x-api-key']);
  if (key === '') return Errors.missingKey;
  const identity = gw.keys.peek(hashClientKey(key), ctx.ts);
  if (identity === undefined) return undefined;
  gw.metrics?.cacheLookup('keys', true);
  return adopt(ctx, judge(gw, req, identity, ctx.ts));
}

function adopt(ctx: RequestContext, identity: KeyIdentity | ErrorSpec): ErrorSpec | null {
  if ('status' in identity) return identity;
  ctx.userId = identity.userId;
  ctx.keyId = identity.keyId;
  ctx.userName = identity.userName;
  ctx.keyName = identity.keyName;
  ctx.allowedModels = identity.models;
  ctx.keyCachesAnswers = identity.cache;
  return null;
}
