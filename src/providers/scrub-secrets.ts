/**
 * Upstream error text is the upstream's words about OUR request, and
 * providers echo what they were sent: "Incorrect API key provided: sk-…".
 * Before such text reaches a client or a log, the key the gateway used is
 * removed, and so is anything shaped like a key or token. Runs on error
 * paths only (a few regex passes over at most a few KB), never per chunk.
 */

const REDACTED = '[redacted]';

/** Prefixed API keys (OpenAI sk-/sk-proj-, Anthropic sk-ant-, Tollgate tg-, …), Bearer tokens, long opaque runs. */
const KEY_SHAPES: readonly RegExp[] = [
  /\b(?:sk|tg|rk|pk|ak|key|sess)-[A-Za-z0-9_-]{6,}/gi,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{6,}/gi,
  /[A-Za-z0-9+/_-]{32,}={0,2}/g,
];

/** `text` without `secret` (exact) and without anything key-shaped. */
export function scrubSecrets(text: string, secret: string): string {
  // Very short "secrets" (the mock's) would blank ordinary words.
  let out = secret.length >= 6 ? text.split(secret).join(REDACTED) : text;
  for (const shape of KEY_SHAPES) out = out.replace(shape, REDACTED);
  return out;
}

/**
 * An error body scrubbed as the client will read it: JSON is decoded first,
 * so a key sent back with its characters escaped (`\u0073k-…`) is found
 * too, and re-serialised (still JSON: no key shape spans a quote or a
 * backslash). Other text, or JSON too deep to re-serialise, is scrubbed as is.
 */
export function scrubErrorBody(text: string, secret: string): string {
  let decoded = text;
  try {
    decoded = JSON.stringify(JSON.parse(text));
  } catch {
    // not JSON, or nested too deeply to write back: the raw text it is
  }
  return scrubSecrets(decoded, secret);
}
