/**
 * Client API keys: `tg-` + 32 base62 characters (190 bits of entropy). Only the
 * SHA-256 hash is stored; the key itself is shown once, at creation.
 */
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const KEY_PREFIX = 'tg-';
const KEY_BODY_LENGTH = 32;
/** How much of a key lists and logs may show: the prefix plus 7 characters. */
export const DISPLAY_PREFIX_LENGTH = 10;

export function generateClientKey(): string {
  // Rejection sampling keeps every character uniform (256 is not a multiple of 62).
  let body = '';
  while (body.length < KEY_BODY_LENGTH) {
    for (const byte of randomBytes(48)) {
      if (byte < 248 && body.length < KEY_BODY_LENGTH) body += ALPHABET[byte % 62];
    }
  }
  return KEY_PREFIX + body;
}

export function hashClientKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export const displayPrefix = (key: string) => key.slice(0, DISPLAY_PREFIX_LENGTH);

/**
 * The key a request carries: `Authorization: Bearer <key>` or `x-api-key: <key>`
 * (what the Anthropic SDK sends). Returns '' when there is none.
 */
export function presentedKey(authorization: string | undefined, xApiKey: string | string[] | undefined): string {
  if (authorization !== undefined) {
    // "Bearer " is case-insensitive per RFC 6750 §2.1.
    if (authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ') return authorization.slice(7).trim();
    return '';
  }
  if (typeof xApiKey === 'string') return xApiKey.trim();
  return '';
}
