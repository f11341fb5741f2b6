/**
 * The id of a Responses API object, read from a native answer as it passes so
 * the usage record can say who owns it (gateway/stored-responses.ts). A plain
 * body has it as its top-level `id`; a stream as `response.id` of its first
 * event (`response.created`), so only the first `data:` line is ever parsed.
 */

/** How much of a stream's start is held while looking for the end of its first data line. */
const FIRST_LINE_LIMIT = 64 * 1024;
const ID_KEY = Buffer.from('"id"');

/** The top-level `"id"` string of a JSON object body; null when it has none. */
export function bodyResponseId(body: Buffer): string | null {
  const open = body.indexOf(0x7b /* { */);
  if (open < 0) return null;
  // The id leads an OpenAI response object: look at each "id" key until one stands at depth 1.
  for (let at = body.indexOf(ID_KEY, open); at >= 0; at = body.indexOf(ID_KEY, at + 1)) {
    if (depthAt(body, open, at) === 1) return stringAfterKey(body, at + ID_KEY.length);
  }
  return null;
}

/** Reads the first data line of a stream, chunk by chunk, then stops. */
export class StreamResponseId {
  #held: Buffer | null = null;
  #done = false;
  id: string | null = null;

  /** False once the first data line was read (or given up on): no more chunks are needed. */
  get wanted(): boolean {
    return !this.#done;
  }

  push(chunk: Buffer): void {
    const data = this.#held === null ? chunk : Buffer.concat([this.#held, chunk]);
    this.#held = null;
    let lineStart = 0;
    for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, lineStart)) {
      const line = data.toString('utf8', lineStart, nl).trim();
      lineStart = nl + 1;
      if (!line.startsWith('data:')) continue; // event:, blank, comments
      this.#done = true;
      try {
        const id = JSON.parse(line.slice(5))?.response?.id;
        if (typeof id === 'string' && id !== '') this.id = id;
      } catch {
        // not JSON: the stream has no readable id
      }
      return;
    }
    if (data.length - lineStart > FIRST_LINE_LIMIT) this.#done = true;
    else this.#held = Buffer.from(data.subarray(lineStart));
  }
}

/** Object depth at `at` within the object opened at `open` (strings honoured). */
function depthAt(buf: Buffer, open: number, at: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < at; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  // An "id" inside a string value is not a key.
  return inString ? -1 : depth;
}

/** The JSON string after `"key"` and its colon; null when the value is not a string. */
function stringAfterKey(buf: Buffer, from: number): string | null {
  let i = from;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] !== 0x3a /* : */) return null;
  i++;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] !== 0x22) return null;
  let end = i + 1;
  for (; end < buf.length && buf[end] !== 0x22; end++) if (buf[end] === 0x5c) end++;
  try {
    const id = JSON.parse(buf.toString('utf8', i, end + 1));
    return typeof id === 'string' && id !== '' ? id : null;
  } catch {
    return null;
  }
}
