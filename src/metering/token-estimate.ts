/**
 * Prompt token counts, two ways over the same walk of the request body:
 *
 * - promptTokenBound: what admission reserves credits and TPM for. Every text
 *   is sized by its UTF-8 bytes: byte-level BPE tokenizers (OpenAI's, and the
 *   others in use) never make a token of less than one byte, so this is an
 *   upper bound of what any upstream counts for the text, at the cost of one
 *   Buffer.byteLength per string instead of a tokenization, and without the
 *   tokenizer's 74 MB. English prose is ~4 bytes a token, so it holds about
 *   four times what the exact count would; the surplus is released at
 *   settlement, where the upstream's usage decides the charge.
 * - estimatePromptTokens: the count with a real BPE tokenizer
 *   (gpt-tokenizer, o200k_base: the GPT-4o/4.1/5 family's encoding), for
 *   count_tokens and for answers that report no usage. The tokenizer is
 *   loaded on first use (tokenizer.ts).
 *
 * Both count the same framing (per message, reply priming) and a fixed amount
 * per image; images are not fetched, so that part is an estimate either way.
 *
 * Cost, measured on this machine (Node 24): a 50-character prompt takes
 * ~3 µs; English prose ~35 MB/s; random printable text, where the merge
 * cache never hits, ~1.2 MB/s. A 4 MB adversarial body counted exactly would
 * block the event loop for seconds, so each call counts at most
 * EXACT_BUDGET_CHARS characters exactly and extrapolates the rest with the
 * tokens-per-character ratio it measured on the counted part (≥ 0.5 before
 * it has seen enough text: a deliberate over-estimate, never an under-one
 * that would let a big prompt through on a small reservation).
 */
import { tokenizer } from './tokenizer.ts';

/** Which request shape the body has. */
export type EstimateEndpoint = 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses';

// Client text is data: "<|endoftext|>" in a prompt is counted as ordinary
// characters instead of making the tokenizer throw.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** OpenAI's chat format: every message costs 3 tokens of framing, a name 1 more. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
/** The reply is primed with `<|start|>assistant<|message|>`. */
const REPLY_PRIMING = 3;
/** A 1024×1024 image at detail "high" (OpenAI: 85 + 4 tiles × 170); images are not fetched. */
const IMAGE_TOKENS = 765;
/** Characters counted exactly per call: ~27 ms worst case (random text), ~1 ms for prose. */
const EXACT_BUDGET_CHARS = 32_768;
/** Below this many exactly counted characters the measured ratio is too noisy to trust. */
const MIN_SAMPLE_CHARS = 1_024;
const FALLBACK_TOKENS_PER_CHAR = 0.5;
const MIN_TOKENS_PER_CHAR = 0.15;

// Per-call counting state. Module-level is safe: estimatePromptTokens is
// synchronous and JS is single-threaded, and it avoids a closure or context
// object per request.
let budget = 0;
let countedChars = 0;
let countedTokens = 0;
/** True while promptTokenBound walks: texts are sized by their UTF-8 bytes instead of counted. */
let bounding = false;

function resetBudget(): void {
  budget = EXACT_BUDGET_CHARS;
  countedChars = 0;
  countedTokens = 0;
}

function countExact(text: string): number {
  const n = tokenizer().countTokens(text, PLAIN_TEXT);
  budget -= text.length;
  countedChars += text.length;
  countedTokens += n;
  return n;
}

// The ratio is floored at 0.15 tokens/char (plain English runs 0.18–0.25) so that a head
// of highly compressible text cannot shrink the estimate of what follows.
function extrapolate(chars: number): number {
  const ratio = countedChars >= MIN_SAMPLE_CHARS ? Math.max(countedTokens / countedChars, MIN_TOKENS_PER_CHAR) : FALLBACK_TOKENS_PER_CHAR;
  return Math.ceil(chars * ratio);
}

function textTokens(text: string): number {
  const len = text.length;
  if (len === 0) return 0;
  if (bounding) return Buffer.byteLength(text, 'utf8');
  if (len <= budget) return countExact(text);
  if (budget === 0) return extrapolate(len);
  const head = budget;
  const exact = countExact(text.slice(0, head));
  return exact + extrapolate(len - head);
}

/**
 * Nesting of tool results inside tool results followed exactly. Deeper content
 * is counted by the iterative walk (jsonTokens): a 20,000-deep body from a
 * client must cost a 4xx or an estimate, never a stack overflow.
 */
const MAX_CONTENT_DEPTH = 16;

/** A chat/messages content value: a string, or an array of typed parts. */
function contentTokens(content: unknown, depth = 0): number {
  if (typeof content === 'string') return textTokens(content);
  if (depth >= MAX_CONTENT_DEPTH) return jsonTokens(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (let i = 0; i < content.length; i++) {
    const part = content[i];
    if (typeof part === 'string') {
      n += textTokens(part);
      continue;
    }
    if (part === null || typeof part !== 'object') continue;
    switch (part.type) {
      case 'text':
      case 'input_text': // Responses
      case 'output_text':
        n += textTokens(typeof part.text === 'string' ? part.text : '');
        break;
      case 'refusal':
        n += textTokens(typeof part.refusal === 'string' ? part.refusal : '');
        break;
      case 'image_url':
      case 'input_image':
      case 'input_file':
      case 'image':
      case 'input_audio':
      case 'file':
      case 'document':
        n += IMAGE_TOKENS;
        break;
      case 'tool_use': // Anthropic: the model's call, replayed in the history
        n += textTokens(typeof part.name === 'string' ? part.name : '') + jsonTokens(part.input);
        break;
      case 'tool_result':
        n += contentTokens(part.content, depth + 1);
        break;
      default:
        break;
    }
  }
  return n;
}

function jsonTokens(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'string') return textTokens(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // Too deep for the recursive serialiser (a hostile body): size it without recursion
    // (a bound: at most 3 UTF-8 bytes per UTF-16 unit).
    return bounding ? serialisedLength(value) * 3 : extrapolate(serialisedLength(value));
  }
  return json === undefined ? 0 : textTokens(json);
}

/**
 * An upper bound of JSON.stringify(value).length, walked with an explicit
 * stack so no nesting depth can overflow the call stack.
 */
function serialisedLength(root: unknown): number {
  let chars = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') chars += v.length * 2 + 2; // worst case: every character escaped
    else if (Array.isArray(v)) {
      chars += 2 + v.length;
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        chars += k.length * 2 + 4;
        stack.push((v as Record<string, unknown>)[k]);
      }
      chars += 2;
    } else chars += 24; // numbers, booleans, null
  }
  return chars;
}

function messagesTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let n = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m === null || typeof m !== 'object') continue;
    n += TOKENS_PER_MESSAGE;
    if (typeof m.role === 'string') n += textTokens(m.role);
    n += contentTokens(m.content);
    if (typeof m.name === 'string') n += TOKENS_PER_NAME + textTokens(m.name);
    if (Array.isArray(m.tool_calls)) {
      for (const call of m.tool_calls) {
        const fn = call?.function;
        if (fn && typeof fn === 'object') n += textTokens(typeof fn.name === 'string' ? fn.name : '') + jsonTokens(fn.arguments);
      }
    }
    if (m.function_call && typeof m.function_call === 'object') {
      n += textTokens(String(m.function_call.name ?? '')) + jsonTokens(m.function_call.arguments);
    }
  }
  return n + REPLY_PRIMING;
}

/** A Responses `input`: a string, or items (messages with text parts, function calls and their outputs). */
function responsesInputTokens(input: unknown): number {
  if (typeof input === 'string') return TOKENS_PER_MESSAGE + textTokens(input) + REPLY_PRIMING;
  if (!Array.isArray(input)) return 0;
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const item = input[i];
    if (item === null || typeof item !== 'object') continue;
    n += TOKENS_PER_MESSAGE;
    if (item.content !== undefined) n += contentTokens(item.content);
    else if (item.type === 'function_call') n += textTokens(typeof item.name === 'string' ? item.name : '') + jsonTokens(item.arguments);
    else if (item.type === 'function_call_output') n += jsonTokens(item.output);
  }
  return n + REPLY_PRIMING;
}

/** `prompt` / `input`: a string, an array of strings, or pre-tokenized arrays. */
function promptTokens(prompt: unknown): number {
  if (typeof prompt === 'string') return textTokens(prompt);
  if (!Array.isArray(prompt)) return 0;
  let n = 0;
  for (let i = 0; i < prompt.length; i++) {
    const item = prompt[i];
    if (typeof item === 'string') n += textTokens(item);
    else if (typeof item === 'number') n += 1; // one token id
    else if (Array.isArray(item)) n += item.length; // a pre-tokenized prompt
  }
  return n;
}

/**
 * Prompt tokens of a parsed request body, for sizing the credit reservation.
 * Never throws: a body of the wrong shape counts what it can (0 when nothing);
 * validation is the caller's job.
 */
export function estimatePromptTokens(body: any, endpoint: EstimateEndpoint): number {
  if (body === null || typeof body !== 'object') return 0;
  resetBudget();
  return walkPrompt(body, endpoint);
}

/**
 * An upper bound of the prompt tokens of a parsed request body, for the credit
 * reservation and TPM limits: always ≥ estimatePromptTokens of the same body,
 * and ≥ what a byte-level BPE tokenizer makes of its texts. Never throws.
 */
export function promptTokenBound(body: any, endpoint: EstimateEndpoint): number {
  if (body === null || typeof body !== 'object') return 0;
  bounding = true;
  try {
    return walkPrompt(body, endpoint);
  } finally {
    bounding = false;
  }
}

function walkPrompt(body: any, endpoint: EstimateEndpoint): number {
  switch (endpoint) {
    case 'chat':
      return messagesTokens(body.messages) + jsonTokens(body.tools) + jsonTokens(body.functions);
    case 'messages': {
      const system = body.system === undefined ? 0 : contentTokens(body.system);
      return system + messagesTokens(body.messages) + jsonTokens(body.tools);
    }
    case 'responses': {
      // Counted like the chat request it is equivalent to: instructions as a system message.
      const instructions = typeof body.instructions === 'string' && body.instructions !== '' ? TOKENS_PER_MESSAGE + textTokens(body.instructions) : 0;
      return instructions + responsesInputTokens(body.input) + jsonTokens(body.tools);
    }
    case 'completions':
      return promptTokens(body.prompt);
    case 'embeddings':
      return promptTokens(body.input);
    default:
      return 0;
  }
}

/**
 * Tokens of a piece of generated text, for counting streamed deltas when the
 * upstream reports no usage. Summing per-delta counts can exceed the count of
 * the joined text by a token at some boundaries; that errs towards charging
 * what was delivered, never less. Exact (no budget): deltas are small.
 */
export function countCompletionTokens(text: string): number {
  if (text.length === 0) return 0;
  return tokenizer().countTokens(text, PLAIN_TEXT);
}
