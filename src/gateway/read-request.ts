/**
 * Stage 2: read and check the request body. The bytes are kept as received so
 * the relay can forward them untouched; the parsed copy is only read.
 */
import type { IncomingMessage } from 'node:http';
import { Errors, type ErrorSpec } from '../errors.ts';
import { COMPLETION_BOUND_FIELDS } from '../providers/completion-bound.ts';
import { closeAfterAnswer } from '../edge/lingering-close.ts';
import type { RequestContext } from './context.ts';

export interface BadRequest { readonly error: ErrorSpec; readonly message?: string; readonly param?: string }

/** Why a body was not read: too large, or the client went quiet in the middle of it. */
export type BodyRefusal = 'too_large' | 'idle';

/**
 * Reads the body up to `limit` bytes. Past the limit (declared or counted as
 * chunks arrive) it stops at once: the caller answers 413 on a connection that
 * closes after the answer, so a 200 MiB chunked upload is not read to its end.
 * A pause longer than `idleMs` between chunks ends it the same way (408).
 */
export function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer | BodyRefusal> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.resolve('too_large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (refusal: BodyRefusal) => {
      req.removeListener('data', onData);
      req.setTimeout(0);
      resolve(refusal);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop('too_large');
      chunks.push(chunk);
    };
    // The socket timer runs only while the body arrives: a long upstream wait afterwards is not idleness.
    req.setTimeout(idleMs, () => stop('idle'));
    req.on('data', onData);
    req.on('end', () => {
      req.setTimeout(0);
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
  });
}

const isJsonContentType = (ct: string | undefined) => ct !== undefined && /^application\/([\w.+-]*\+)?json\b/i.test(ct);

/** Parses and validates the body of a model call; fills ctx.json, model, stream. */
export async function readModelRequest(ctx: RequestContext, bodyLimit: number, bodyIdleMs: number): Promise<BadRequest | null> {
  if (!isJsonContentType(ctx.req.headers['content-type'])) {
    ctx.req.resume();
    return { error: Errors.unsupportedMediaType };
  }
  const body = await readBody(ctx.req, bodyLimit, bodyIdleMs);
  if (typeof body === 'string') {
    // The rest of the body is not read: the connection closes after the answer.
    closeAfterAnswer(ctx.res);
    return body === 'too_large'
      ? { error: Errors.bodyTooLarge, message: `The request body exceeds the limit of ${bodyLimit} bytes.` }
      : { error: Errors.requestTimeout, message: `No request body data for ${bodyIdleMs} ms.` };
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: Errors.invalidJson };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return { error: Errors.invalidBody, message: 'The request body must be a JSON object.' };
  const obj = json as Record<string, any>;
  if (obj.model === undefined || obj.model === null || obj.model === '') return { error: Errors.missingModel, param: 'model' };
  if (typeof obj.model !== 'string') return { error: Errors.invalidBody, message: "'model' must be a string.", param: 'model' };
  if (obj.stream !== undefined && obj.stream !== null && typeof obj.stream !== 'boolean') return { error: Errors.invalidBody, message: "'stream' must be a boolean.", param: 'stream' };
  for (const field of COMPLETION_BOUND_FIELDS) {
    const bound = obj[field];
    if (bound !== undefined && bound !== null && !(Number.isSafeInteger(bound) && bound > 0)) {
      return { error: Errors.invalidBody, message: `'${field}' must be a positive integer.`, param: field };
    }
  }
  const problem = checkShape(ctx.endpoint.kind, obj);
  if (problem !== null) return problem;
  ctx.body = body;
  ctx.json = obj;
  ctx.model = obj.model;
  ctx.stream = obj.stream === true && ctx.endpoint.streamable;
  ctx.clientWantsStreamUsage = ctx.dialect.streamCarriesUsage(obj);
  return null;
}

/** The one required field per endpoint; the upstream validates the rest. */
function checkShape(kind: string, obj: Record<string, any>): BadRequest | null {
  if ((kind === 'chat' || kind === 'messages' || kind === 'count_tokens') && !(Array.isArray(obj.messages) && obj.messages.length > 0)) {
    return { error: Errors.invalidBody, message: "'messages' must be a non-empty array.", param: 'messages' };
  }
  if (kind === 'responses' && !(typeof obj.input === 'string' || Array.isArray(obj.input))) {
    return { error: Errors.invalidBody, message: "'input' must be a string or an array of items.", param: 'input' };
  }
  if (kind === 'completions' && !(typeof obj.prompt === 'string' || Array.isArray(obj.prompt))) {
    return { error: Errors.invalidBody, message: "'prompt' must be a string or an array.", param: 'prompt' };
  }
  if (kind === 'embeddings' && !(typeof obj.input === 'string' || Array.isArray(obj.input))) {
    return { error: Errors.invalidBody, message: "'input' must be a string or an array.", param: 'input' };
  }
  return null;
}
