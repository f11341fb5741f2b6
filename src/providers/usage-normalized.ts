/**
 * One normalised token usage for every protocol, and the mappers from and to each
 * protocol's usage object.
 *
 * Conventions (the same answer yields the same numbers whichever way it travelled):
 *   inputTokens        every prompt token, cached and cache-written ones included
 *                      (OpenAI's `prompt_tokens` / `input_tokens`; Anthropic's
 *                      input_tokens + cache_read_input_tokens + cache_creation_input_tokens)
 *   cachedInputTokens  the part of inputTokens read from the prompt cache
 *   cacheWriteTokens   the part of inputTokens written to the prompt cache (Anthropic)
 *   outputTokens       every generated token, reasoning included (OpenAI counts
 *                      reasoning inside completion/output tokens, Anthropic inside output_tokens)
 *   reasoningTokens    the part of outputTokens spent on reasoning, when the provider says
 *
 * So uncached input = inputTokens - cachedInputTokens - cacheWriteTokens, and
 * visible output = outputTokens - reasoningTokens.
 *
 * OpenAI shapes have no standard field for cache writes; we read and write
 * `prompt_tokens_details.cache_write_tokens` / `input_tokens_details.cache_write_tokens`
 * (OpenRouter's name) and also read LiteLLM's top-level `cache_creation_input_tokens`.
 * Anthropic's shape has no reasoning field, so reasoning does not survive a trip
 * through it (the gateway meters the upstream's own usage, never the translated one).
 */

/** Token usage of one answer, in one shape for every protocol. */
export interface NormalizedUsage {
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

/** OpenAI chat completions usage. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number; audio_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number; audio_tokens?: number };
  cache_creation_input_tokens?: number;
}

/** OpenAI Responses usage. */
export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Anthropic Messages usage (input_tokens excludes both cache kinds). */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/** A usage with every count at zero. */
export function emptyUsage(): NormalizedUsage {
  return { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 };
}

/** From an OpenAI chat `usage` object; null when it is not one. */
export function usageFromChat(u: unknown): NormalizedUsage | null {
  if (!isRecord(u)) return null;
  if (u.prompt_tokens === undefined && u.completion_tokens === undefined) return null;
  const prompt = isRecord(u.prompt_tokens_details) ? u.prompt_tokens_details : null;
  const completion = isRecord(u.completion_tokens_details) ? u.completion_tokens_details : null;
  return {
    inputTokens: count(u.prompt_tokens),
    cachedInputTokens: count(prompt?.cached_tokens),
    cacheWriteTokens: count(prompt?.cache_write_tokens ?? u.cache_creation_input_tokens),
    outputTokens: count(u.completion_tokens),
    reasoningTokens: count(completion?.reasoning_tokens),
  };
}

/** From an OpenAI Responses `usage` object; null when it is not one. */
export function usageFromResponses(u: unknown): NormalizedUsage | null {
  if (!isRecord(u)) return null;
  if (u.input_tokens === undefined && u.output_tokens === undefined) return null;
  const input = isRecord(u.input_tokens_details) ? u.input_tokens_details : null;
  const output = isRecord(u.output_tokens_details) ? u.output_tokens_details : null;
  return {
    inputTokens: count(u.input_tokens),
    cachedInputTokens: count(input?.cached_tokens),
    cacheWriteTokens: count(input?.cache_write_tokens),
    outputTokens: count(u.output_tokens),
    reasoningTokens: count(output?.reasoning_tokens),
  };
}

/** From an Anthropic `usage` object; null when it is not one. */
export function usageFromAnthropic(u: unknown): NormalizedUsage | null {
  if (!isRecord(u)) return null;
  if (u.input_tokens === undefined && u.output_tokens === undefined) return null;
  const read = count(u.cache_read_input_tokens);
  const write = count(u.cache_creation_input_tokens);
  return {
    inputTokens: count(u.input_tokens) + read + write,
    cachedInputTokens: read,
    cacheWriteTokens: write,
    outputTokens: count(u.output_tokens),
    reasoningTokens: 0,
  };
}

/**
 * Folds a later Anthropic stream usage (message_delta) into the one from message_start:
 * message_delta's counts are cumulative, and its non-zero input fields replace the start's.
 * Mutates and returns `into`.
 */
export function mergeAnthropicUsage(into: NormalizedUsage, delta: unknown): NormalizedUsage {
  if (!isRecord(delta)) return into;
  // A 0 never replaces a count already known: some Anthropic-compatible servers send placeholder
  // zeros, and a cumulative count does not fall. The billed usage follows the same rule
  // (token-usage.ts, mergeAnthropicStreamUsage), so what the client is shown matches it.
  const output = count(delta.output_tokens);
  if (output > 0) into.outputTokens = output;
  const input = count(delta.input_tokens);
  const read = count(delta.cache_read_input_tokens);
  const write = count(delta.cache_creation_input_tokens);
  if (input > 0 || read > 0 || write > 0) {
    const uncached = input > 0 ? input : into.inputTokens - into.cachedInputTokens - into.cacheWriteTokens;
    if (read > 0) into.cachedInputTokens = read;
    if (write > 0) into.cacheWriteTokens = write;
    into.inputTokens = uncached + into.cachedInputTokens + into.cacheWriteTokens;
  }
  return into;
}

/** To OpenAI chat's usage shape. */
export function usageToChat(u: NormalizedUsage): ChatUsage {
  const usage: ChatUsage = {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
  if (u.cacheWriteTokens > 0) usage.prompt_tokens_details!.cache_write_tokens = u.cacheWriteTokens;
  return usage;
}

/** To OpenAI Responses' usage shape. */
export function usageToResponses(u: NormalizedUsage): ResponsesUsage {
  const usage: ResponsesUsage = {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cachedInputTokens },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
  if (u.cacheWriteTokens > 0) usage.input_tokens_details.cache_write_tokens = u.cacheWriteTokens;
  return usage;
}

/** To Anthropic's usage shape (input_tokens without the cached and cache-written parts). */
export function usageToAnthropic(u: NormalizedUsage): Required<AnthropicUsage> {
  return {
    input_tokens: Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteTokens),
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cachedInputTokens,
    output_tokens: u.outputTokens,
  };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

function isRecord(value: unknown): value is Record<string, any> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
