/**
 * The id of a Responses API object, read from a native answer as it passes so
 * the usage record can say who owns it (gateway/stored-responses.ts). A plain
 * body has it as its top-level `id`; a stream as `response.id` of its first
 * event (`response.created`), so only the first `data:` line is ever parsed.
 */

/** How much of a stream's start is held while looking for the end of its first data line. */
const FIRST_LINE_LIMIT = 64 * 1024;

/**
 * The top-level `"id"` string of a JSON object body; null when it has none.
 * One pass that stops at it (it leads an OpenAI response object), skipping
 * strings and nested values.
 */
export function bodyResponseId(body: Buffer): string | null {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x22 /* " */) {
      if (depth === 1 && body[i + 1] === 0x69 /* i */ && body[i + 2] === 0x64 /* d */ && body[i + 3] === 0x22) {
        const id = stringAfterKey(body, i + 4);
        if (id !== undefined) return id;
      }
      i = stringEnd(body, i);
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
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

/** Index of the quote closing the string opened at `open` (the last index when unterminated). */
function stringEnd(buf: Buffer, open: number): number {
  let i = open + 1;
  for (; i < buf.length && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++;
  return i;
}

/**
 * The JSON string after `"key"` and its colon: null when the value is not a
 * usable string, undefined when no colon follows (the quote was a value, not a key).
 */
function stringAfterKey(buf: Buffer, from: number): string | null | undefined {
  let i = from;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] !== 0x3a /* : */) return undefined;
  i++;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] !== 0x22) return null;
  const end = stringEnd(buf, i);
  try {
    const id = JSON.parse(buf.toString('utf8', i, end + 1));
    return typeof id === 'string' && id !== '' ? id : null;
  } catch {
    return null;
  }
}
