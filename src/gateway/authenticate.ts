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

/**
 * The caller's identity from its request, or the error to answer with. Also
 * used by the account API and service routes. Synchronous when the key is
 * cached (the hot path's common case costs no promise); a promise when the
 * store must be read.
 */
export function identifyCaller(gw: Gateway, req: IncomingMessage, now: number): KeyIdentity | ErrorSpec | Promise<KeyIdentity | ErrorSpec> {
  const key = presentedKey(req.headers.authorization, req.headers['x-api-key']);
  if (key === '') return Errors.missingKey;
  const hash = hashClientKey(key);
  const identity = gw.keys.peek(hash, now);
  if (identity === undefined) return loadCaller(gw, req, hash, now);
  gw.metrics?.cacheLookup('keys', true);
  return judge(gw, req, identity, now);
}

/** A cache miss: the key is read from the store, then judged. */
async function loadCaller(gw: Gateway, req: IncomingMessage, hash: string, now: number): Promise<KeyIdentity | ErrorSpec> {
  gw.metrics?.cacheLookup('keys', false);
  let identity: KeyIdentity | null;
  try {
    identity = (await gw.keys.load(hash)) ?? null;
    gw.storeHealth.succeeded();
  } catch (err) {
    // The store is down, not the key wrong: 503 (with Retry-After), and readiness turns unready.
    gw.storeHealth.failed(Date.now());
    gw.onStoreError(err);
    return Errors.storeUnavailable;
  }
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

/** Fills ctx.userId/keyId (and the key's model allow-list), or returns the error to send; synchronous when the key is cached. */
export function authenticate(gw: Gateway, ctx: RequestContext): ErrorSpec | null | Promise<ErrorSpec | null> {
  const identity = identifyCaller(gw, ctx.req, ctx.ts);
  return identity instanceof Promise ? identity.then((found) => adopt(ctx, found)) : adopt(ctx, identity);
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
