/**
 * The mock upstream's endpoints: validates a parsed request, then answers from a
 * cached plan (generation), the embedding generator or a constant (models).
 * Streams without delay or fault go out in one write; otherwise the content frames
 * are pumped by a module-level timer callback that keeps its state on `res`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { composeFeatureAnswer, needsFeatureAnswer, type MockProtocol } from './mock-answer.ts';
import { countInputTokens, countMessagesTokens, completionLength, inputAt, inputCount } from './mock-content.ts';
import { composeEmbeddingsBody, DEFAULT_EMBEDDING_DIMENSIONS, MAX_EMBEDDING_DIMENSIONS, MAX_EMBEDDING_INPUTS } from './mock-embeddings.ts';
import { faultErrorBody, requestErrorBody, type ErrorFlavour } from './mock-errors.ts';
import { StoredResponses } from './mock-stored.ts';
import { MAX_STREAM_CHUNKS, sendJson, SSE_HEADERS, writeThenReset, type MockResponse } from './mock-exchange.ts';
import {
  composeBody, composeStreamOpening, composeStreamTrailer, framePrefix, nextResponseId, planFor, responseHead, type PlanKind,
} from './mock-plans.ts';

/** Most choices (`n` × prompts) one generation request may ask for. */
const MAX_CHOICES = 128;
/** Longest `x-mock-chunk-delay-ms` accepted. */
const MAX_CHUNK_DELAY_MS = 60_000;

/** Models listed by GET /v1/models; every endpoint accepts any model name regardless. */
export const MOCK_MODELS: readonly string[] = ['mock-gpt', 'mock-gpt-large', 'mock-embed'];
// A fixed date keeps the listing byte-identical across runs.
const MODELS_CREATED = 1_700_000_000;
const MODELS_BODY = JSON.stringify({ object: 'list', data: MOCK_MODELS.map(modelObject) });

type JsonObject = Record<string, unknown>;

/** Answers a request whose body has been read and whose fault (if any) allows an answer. */
export function respond(res: MockResponse): void {
  res.timer = null;
  if (res.destroyed) return;
  const req = res.req;
  const path = req.route;
  const flavour: ErrorFlavour = path === '/v1/messages' ? 'anthropic' : 'openai';
  if (res.faultStatus !== 0) {
    sendJson(res, res.faultStatus, faultErrorBody(res.faultStatus, flavour));
    return;
  }
  const kind = req.method === 'POST' ? generationKind(path) : null;
  const responses = req.method === 'POST' && path === '/v1/responses';
  if (kind !== null || responses || (req.method === 'POST' && path === '/v1/embeddings')) {
    const body = res.requestBody;
    if (res.tooLarge) badRequest(res, flavour, 413, 'Request body too large.', null);
    else if (body === undefined) badRequest(res, flavour, 400, 'We could not parse the JSON body of your request.', null);
    else if (!isObject(body)) badRequest(res, flavour, 400, 'The request body must be a JSON object.', null);
    else if (kind !== null) answerGeneration(res, kind, body, flavour);
    else if (responses) answerResponses(res, body);
    else answerEmbeddings(res, body);
  } else if (StoredResponses.handles(path)) {
    const answer = res.upstream!.responses.answer(req.method ?? 'GET', path, req.url ?? path);
    sendJson(res, answer.status, answer.body);
  } else if (req.method === 'GET' && path === '/v1/models') {
    answerJson(res, MODELS_BODY);
  } else if (req.method === 'GET' && path.startsWith('/v1/models/') && path.length > 11) {
    answerJson(res, JSON.stringify(modelObject(path.slice(11))));
  } else {
    badRequest(res, flavour, 404, `Invalid URL (${req.method} ${path})`, null, 'unknown_url');
  }
}

function generationKind(path: string): PlanKind | null {
  if (path === '/v1/chat/completions') return 'chat';
  if (path === '/v1/completions') return 'text';
  if (path === '/v1/messages') return 'messages';
  return null;
}

function answerGeneration(res: MockResponse, kind: PlanKind, body: JsonObject, flavour: ErrorFlavour): void {
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) return badRequest(res, flavour, 400, 'You must provide a model parameter.', 'model');
  const words = completionLength(body);
  if (words < 0) return badRequest(res, flavour, 400, 'max_tokens must be a positive integer.', 'max_tokens');
  let choices = 1;
  let inputTokens = 0;
  if (kind === 'text') {
    choices = inputCount(body.prompt);
    if (choices === 0) return badRequest(res, flavour, 400, 'prompt must be a string, an array of strings or token ids.', 'prompt');
    for (let i = 0; i < choices; i++) inputTokens += countInputTokens(inputAt(body.prompt, i));
  } else {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) return badRequest(res, flavour, 400, 'messages must be a non-empty array.', 'messages');
    inputTokens = countMessagesTokens(messages, kind === 'messages' ? body.system : undefined);
  }
  if (kind !== 'messages') {
    const n = body.n ?? 1;
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1)) return badRequest(res, flavour, 400, 'n must be a positive integer.', 'n');
    choices *= n;
    if (choices > MAX_CHOICES) return badRequest(res, flavour, 400, `The mock answers at most ${MAX_CHOICES} choices.`, 'n');
  }
  const state = res.upstream!;
  const id = nextResponseId(kind);
  const created = Math.floor(Date.now() / 1000);
  if (kind !== 'text' && needsFeatureAnswer(body, requestHeaders(res))) return answerFeature(res, kind, body, flavour, id, words, inputTokens);
  if (body.stream !== true) {
    const plan = planFor(kind, model, words, state.chunks, choices);
    answerJson(res, composeBody(plan, responseHead(kind, id, created, false), inputTokens));
    return;
  }

  const chunks = streamChunks(res, flavour);
  if (chunks < 0) return;
  const plan = planFor(kind, model, words, chunks, choices);
  const head = responseHead(kind, id, created, true);
  const prefix = framePrefix(plan, head);
  const options = body.stream_options;
  const includeUsage = isObject(options) && options.include_usage === true;
  const opening = composeStreamOpening(plan, head, inputTokens) + joinFrames(prefix, plan.open);
  const closing = joinFrames(prefix, plan.close) + composeStreamTrailer(plan, prefix, inputTokens, includeUsage);
  sendStream(res, opening, prefix, plan.content, closing);
}

/** The request's headers, with the usage switches set on the server (`setUsage`) added. */
function requestHeaders(res: MockResponse): IncomingHttpHeaders {
  const extra = res.upstream!.usageHeaders;
  return extra === null ? res.req.headers : { ...res.req.headers, ...extra };
}

/** `POST /v1/responses`: validated here, answered by the feature path in every case. */
function answerResponses(res: MockResponse, body: JsonObject): void {
  if (typeof body.model !== 'string' || body.model.length === 0) return badRequest(res, 'openai', 400, 'You must provide a model parameter.', 'model');
  const input = body.input;
  if (typeof input !== 'string' && !(Array.isArray(input) && input.length > 0)) {
    return badRequest(res, 'openai', 400, 'input must be a string or a non-empty array of items.', 'input');
  }
  const words = completionLength({ max_tokens: body.max_output_tokens });
  if (words < 0) return badRequest(res, 'openai', 400, 'max_output_tokens must be a positive integer.', 'max_output_tokens');
  const items = typeof input === 'string' ? [{ content: input }] : input;
  const inputTokens = countMessagesTokens(items, typeof body.instructions === 'string' ? body.instructions : undefined);
  answerFeature(res, 'responses', body, 'openai', 'resp_' + nextResponseId('messages').slice(4), words, inputTokens);
}

/** Tools, structured output, stop sequences, usage headers, Responses: see mock-answer.ts. */
function answerFeature(res: MockResponse, protocol: MockProtocol, body: JsonObject, flavour: ErrorFlavour, id: string, words: number, inputTokens: number): void {
  const stream = body.stream === true;
  const chunks = stream ? streamChunks(res, flavour) : 1;
  if (chunks < 0) return;
  const answer = composeFeatureAnswer(protocol, body, requestHeaders(res), id, words, inputTokens, chunks);
  if (protocol === 'responses') {
    // Stored as the whole object a later GET returns: for a stream, the same answer composed unstreamed.
    const whole = stream ? composeFeatureAnswer(protocol, { ...body, stream: false }, requestHeaders(res), id, words, inputTokens, 1).body : answer.body;
    res.upstream!.responses.remember(id, whole, body);
  }
  if (!stream) return answerJson(res, answer.body);
  sendStream(res, answer.opening, '', answer.frames, answer.closing);
}

/** Content chunks of a stream (x-mock-chunks or the server's), and its delay onto `res`; -1 after a 400. */
function streamChunks(res: MockResponse, flavour: ErrorFlavour): number {
  const state = res.upstream!;
  const headers = res.req.headers;
  const chunks = headerNumber(headers['x-mock-chunks'], state.chunks, 1, MAX_STREAM_CHUNKS, true);
  const delayMs = headerNumber(headers['x-mock-chunk-delay-ms'], state.chunkDelayMs, 0, MAX_CHUNK_DELAY_MS, false);
  if (chunks < 0) {
    badRequest(res, flavour, 400, `x-mock-chunks must be an integer in 1..${MAX_STREAM_CHUNKS}.`, null);
    return -1;
  }
  if (delayMs < 0) {
    badRequest(res, flavour, 400, `x-mock-chunk-delay-ms must be a number in 0..${MAX_CHUNK_DELAY_MS}.`, null);
    return -1;
  }
  res.delayMs = delayMs;
  return chunks;
}

/** Writes a stream: at once, or frame by frame under a chunk delay or a reset fault. */
function sendStream(res: MockResponse, opening: string, prefix: string, frames: readonly string[], closing: string): void {
  res.writeHead(200, SSE_HEADERS);
  if (res.delayMs === 0 && res.resetAfter < 0) {
    res.end(opening + joinFrames(prefix, frames) + closing);
    return;
  }
  res.frames = frames;
  res.framePrefix = prefix;
  res.closing = closing;
  // Clamped so a reset always happens, at the latest right after the last content frame.
  if (res.resetAfter > frames.length) res.resetAfter = frames.length;
  if (res.resetAfter === 0) return writeThenReset(res, opening);
  if (opening.length > 0) res.write(opening);
  pumpFrames(res);
}

/** Writes content frames until a delay, a reset or the end; re-armed by its own timer. */
function pumpFrames(res: MockResponse): void {
  res.timer = null;
  if (res.destroyed) return;
  const frames = res.frames;
  while (res.nextFrame < frames.length) {
    const frame = res.framePrefix + frames[res.nextFrame++];
    if (res.nextFrame === res.resetAfter) return writeThenReset(res, frame);
    res.write(frame);
    if (res.delayMs > 0 && res.nextFrame < frames.length) {
      res.timer = setTimeout(pumpFrames, res.delayMs, res);
      return;
    }
  }
  res.end(res.closing);
}

function answerEmbeddings(res: MockResponse, body: JsonObject): void {
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) return badRequest(res, 'openai', 400, 'You must provide a model parameter.', 'model');
  const count = inputCount(body.input);
  if (count === 0) return badRequest(res, 'openai', 400, 'input must be a string, an array of strings or token ids.', 'input');
  if (count > MAX_EMBEDDING_INPUTS) return badRequest(res, 'openai', 400, `input may hold at most ${MAX_EMBEDDING_INPUTS} items.`, 'input');
  const dimensions = body.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
  if (!(typeof dimensions === 'number' && Number.isInteger(dimensions) && dimensions >= 1 && dimensions <= MAX_EMBEDDING_DIMENSIONS)) {
    return badRequest(res, 'openai', 400, `dimensions must be an integer in 1..${MAX_EMBEDDING_DIMENSIONS}.`, 'dimensions');
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') return badRequest(res, 'openai', 400, "encoding_format must be 'float' or 'base64'.", 'encoding_format');
  answerJson(res, composeEmbeddingsBody(body.input, count, model, dimensions, format === 'base64'));
}

/** A 200 JSON answer, or half of it followed by a reset under a `reset-mid-stream` fault. */
function answerJson(res: MockResponse, body: string): void {
  if (res.resetAfter < 0) return sendJson(res, 200, body);
  res.writeHead(200, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body))]);
  writeThenReset(res, body.slice(0, body.length >> 1));
}

function badRequest(res: MockResponse, flavour: ErrorFlavour, status: number, message: string, param: string | null, code: string | null = null): void {
  sendJson(res, status, requestErrorBody(status, flavour, message, param, code));
}

function joinFrames(prefix: string, frames: readonly string[]): string {
  let text = '';
  for (let i = 0; i < frames.length; i++) text += prefix + frames[i];
  return text;
}

/** A numeric mock header: the fallback when absent, -1 when malformed or out of range. */
function headerNumber(value: string | string[] | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!(number >= min && number <= max) || (integer && !Number.isInteger(number))) return -1;
  return number;
}

function modelObject(id: string): JsonObject {
  return { id, object: 'model', created: MODELS_CREATED, owned_by: 'tollgate-mock' };
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
