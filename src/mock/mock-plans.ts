/**
 * Precomputed response bodies for the mock upstream's generation endpoints.
 *
 * A plan holds everything about a response that depends only on (endpoint, model,
 * completion length, chunk count, choice count): the JSON-escaped content, every
 * SSE frame, the body around the usage numbers. Per request only the id, the
 * `created` second and the prompt token count are spliced in, so a cached plan
 * answers with a few string concatenations and no JSON.stringify.
 *
 * OpenAI frames are stored without their `data: {"id":…,"object":…,"created":…,`
 * head, which the writer prepends per request; Anthropic frames carry no id and are
 * stored whole (the id only appears in `message_start`, built per request).
 */
import { completionPieces } from './mock-content.ts';

/** Which generation endpoint a plan answers. */
export type PlanKind = 'chat' | 'text' | 'messages';

/** Immutable response parts for one (kind, model, length, chunks, choices) combination. */
export class ResponsePlan {
  readonly kind: PlanKind;
  /** Completion tokens over all choices. */
  readonly completionTokens: number;
  /** Non-stream body after the per-request head, up to the prompt token count. */
  readonly bodyBeforeInput: string;
  /** Non-stream body after the prompt token count (OpenAI: up to total_tokens). */
  readonly bodyAfterInput: string;
  /** Frames before the content (role chunks, content_block_start). */
  readonly open: readonly string[];
  /** One frame per content piece per choice, written with the chunk delay between them. */
  readonly content: readonly string[];
  /** Frames after the content (finish_reason chunks, message_delta, message_stop). */
  readonly close: readonly string[];
  /** OpenAI usage chunk / Anthropic message_start, up to the prompt token count. */
  readonly usageBeforeInput: string;
  /** The same after the prompt token count (OpenAI: up to total_tokens). */
  readonly usageAfterInput: string;

  constructor(kind: PlanKind, completionTokens: number, body: [string, string], frames: [string[], string[], string[]], usage: [string, string]) {
    this.kind = kind;
    this.completionTokens = completionTokens;
    this.bodyBeforeInput = body[0];
    this.bodyAfterInput = body[1];
    this.open = frames[0];
    this.content = frames[1];
    this.close = frames[2];
    this.usageBeforeInput = usage[0];
    this.usageAfterInput = usage[1];
  }
}

// Arbitrary model names come from clients, so the cache is bounded; clearing it
// whole on overflow is enough for a mock whose benchmarks use a handful of models.
const MAX_CACHED_PLANS = 512;
const plans = new Map<string, ResponsePlan>();

/** The cached plan for these parameters, built on first use. */
export function planFor(kind: PlanKind, model: string, words: number, chunks: number, choices: number): ResponsePlan {
  const key = kind + '\0' + words + '\0' + chunks + '\0' + choices + '\0' + model;
  let plan = plans.get(key);
  if (plan === undefined) {
    if (plans.size >= MAX_CACHED_PLANS) plans.clear();
    const pieces = completionPieces(words, chunks);
    plan = kind === 'messages' ? buildMessagesPlan(model, words, pieces) : buildOpenAIPlan(kind, model, words, pieces, choices);
    plans.set(key, plan);
  }
  return plan;
}

const instanceTag = Math.floor(Math.random() * 0x7fffffff).toString(36);
let sequence = 0;

/** A response id unique within this process and unlikely to repeat across restarts. */
export function nextResponseId(kind: PlanKind): string {
  const prefix = kind === 'chat' ? 'chatcmpl-mock' : kind === 'text' ? 'cmpl-mock' : 'msg_mock';
  return prefix + instanceTag + (++sequence).toString(36);
}

/** Per-request JSON head: everything before `"model"` (OpenAI) or `"type"` (Anthropic). */
export function responseHead(kind: PlanKind, id: string, created: number, stream: boolean): string {
  if (kind === 'messages') return '{"id":"' + id + '",';
  const object = kind === 'chat' ? (stream ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
  return '{"id":"' + id + '","object":"' + object + '","created":' + created + ',';
}

/** The complete non-stream body. */
export function composeBody(plan: ResponsePlan, head: string, inputTokens: number): string {
  if (plan.kind === 'messages') return head + plan.bodyBeforeInput + inputTokens + plan.bodyAfterInput;
  return head + plan.bodyBeforeInput + inputTokens + plan.bodyAfterInput + (inputTokens + plan.completionTokens) + '}}';
}

/** What each stored frame is prefixed with for this request. */
export function framePrefix(plan: ResponsePlan, head: string): string {
  return plan.kind === 'messages' ? '' : 'data: ' + head;
}

/** Per-request frames before the stored ones: Anthropic's message_start. */
export function composeStreamOpening(plan: ResponsePlan, head: string, inputTokens: number): string {
  if (plan.kind !== 'messages') return '';
  return 'event: message_start\ndata: {"type":"message_start","message":' + head + plan.usageBeforeInput + inputTokens + plan.usageAfterInput;
}

/** Per-request frames after the stored ones: OpenAI's optional usage chunk and `[DONE]`. */
export function composeStreamTrailer(plan: ResponsePlan, prefix: string, inputTokens: number, includeUsage: boolean): string {
  if (plan.kind === 'messages') return '';
  if (!includeUsage) return 'data: [DONE]\n\n';
  return prefix + plan.usageBeforeInput + inputTokens + plan.usageAfterInput + (inputTokens + plan.completionTokens) + '}}\n\ndata: [DONE]\n\n';
}

function buildOpenAIPlan(kind: 'chat' | 'text', model: string, words: number, pieces: string[], choices: number): ResponsePlan {
  const chat = kind === 'chat';
  // The chunk object's fields after the per-request head; system_fingerprint only exists on chat.
  const modelPart = '"model":' + JSON.stringify(model) + (chat ? ',"system_fingerprint":null' : '');
  const text = JSON.stringify(pieces.join(''));
  const bodyChoices: string[] = [];
  const open: string[] = [];
  const close: string[] = [];
  for (let i = 0; i < choices; i++) {
    if (chat) {
      bodyChoices.push('{"index":' + i + ',"message":{"role":"assistant","content":' + text + ',"refusal":null},"logprobs":null,"finish_reason":"stop"}');
      open.push(chunk(modelPart, '{"index":' + i + ',"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}'));
      close.push(chunk(modelPart, '{"index":' + i + ',"delta":{},"logprobs":null,"finish_reason":"stop"}'));
    } else {
      bodyChoices.push('{"text":' + text + ',"index":' + i + ',"logprobs":null,"finish_reason":"stop"}');
      close.push(chunk(modelPart, '{"text":"","index":' + i + ',"logprobs":null,"finish_reason":"stop"}'));
    }
  }
  // OpenAI interleaves the choices piece by piece when n > 1.
  const content: string[] = [];
  for (const piece of pieces) {
    const escaped = JSON.stringify(piece);
    for (let i = 0; i < choices; i++) {
      const choice = chat
        ? '{"index":' + i + ',"delta":{"content":' + escaped + '},"logprobs":null,"finish_reason":null}'
        : '{"text":' + escaped + ',"index":' + i + ',"logprobs":null,"finish_reason":null}';
      content.push(chunk(modelPart, choice));
    }
  }
  const completionTokens = words * choices;
  const usageAfterInput = ',"completion_tokens":' + completionTokens + ',"total_tokens":';
  return new ResponsePlan(
    kind,
    completionTokens,
    [modelPart + ',"choices":[' + bodyChoices.join(',') + '],"usage":{"prompt_tokens":', usageAfterInput],
    [open, content, close],
    [modelPart + ',"choices":[],"usage":{"prompt_tokens":', usageAfterInput],
  );
}

function chunk(modelPart: string, choice: string): string {
  return modelPart + ',"choices":[' + choice + ']}\n\n';
}

function buildMessagesPlan(model: string, words: number, pieces: string[]): ResponsePlan {
  const modelJson = JSON.stringify(model);
  const content = pieces.map(
    (piece) => event('content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":' + JSON.stringify(piece) + '}}'),
  );
  return new ResponsePlan(
    'messages',
    words,
    [
      '"type":"message","role":"assistant","model":' + modelJson + ',"content":[{"type":"text","text":' + JSON.stringify(pieces.join('')) +
        '}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":',
      ',"output_tokens":' + words + '}}',
    ],
    [
      [
        event('content_block_start', '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        event('ping', '{"type":"ping"}'),
      ],
      content,
      [
        event('content_block_stop', '{"type":"content_block_stop","index":0}'),
        event('message_delta', '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":' + words + '}}'),
        event('message_stop', '{"type":"message_stop"}'),
      ],
    ],
    // Anthropic reports output_tokens 1 in message_start and the real count in message_delta.
    ['"type":"message","role":"assistant","model":' + modelJson + ',"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":', ',"output_tokens":1}}}\n\n'],
  );
}

function event(type: string, data: string): string {
  return 'event: ' + type + '\ndata: ' + data + '\n\n';
}
