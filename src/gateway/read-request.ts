/**
 * Stage 2: read and check the request body. The bytes are kept as received so
 * the relay can forward them untouched; the parsed copy is only read.
 */
import type { IncomingMessage } from 'node:http';
import { Errors, type ErrorSpec } from '../errors.ts';
import type { RequestContext } from './context.ts';

export interface BadRequest { readonly error: ErrorSpec; readonly message?: string; readonly param?: string }

/** Reads the body up to `limit` bytes; resolves null when over the limit (the rest is drained, not buffered). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    return Promise.resolve(null);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

const isJsonContentType = (ct: string | undefined) => ct !== undefined && /^application\/([\w.+-]*\+)?json\b/i.test(ct);

/** Parses and validates the body of a model call; fills ctx.json, model, stream. */
export async function readModelRequest(ctx: RequestContext, bodyLimit: number): Promise<BadRequest | null> {
  if (!isJsonContentType(ctx.req.headers['content-type'])) {
    ctx.req.resume();
    return { error: Errors.unsupportedMediaType };
  }
  const body = await readBody(ctx.req, bodyLimit);
  if (body === null) return { error: Errors.bodyTooLarge, message: `The request body exceeds the limit of ${bodyLimit} bytes.` };
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
  const maxTokens = obj.max_tokens ?? obj.max_completion_tokens;
  if (maxTokens !== undefined && maxTokens !== null && !(Number.isInteger(maxTokens) && maxTokens > 0)) {
    return { error: Errors.invalidBody, message: "'max_tokens' must be a positive integer.", param: 'max_tokens' };
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
  if ((kind === 'chat' || kind === 'messages') && !(Array.isArray(obj.messages) && obj.messages.length > 0)) {
    return { error: Errors.invalidBody, message: "'messages' must be a non-empty array.", param: 'messages' };
  }
  if (kind === 'completions' && !(typeof obj.prompt === 'string' || Array.isArray(obj.prompt))) {
    return { error: Errors.invalidBody, message: "'prompt' must be a string or an array.", param: 'prompt' };
  }
  if (kind === 'embeddings' && !(typeof obj.input === 'string' || Array.isArray(obj.input))) {
    return { error: Errors.invalidBody, message: "'input' must be a string or an array.", param: 'input' };
  }
  return null;
}
