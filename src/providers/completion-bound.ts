/**
 * The completion-length bounds a request can carry, across the protocols:
 * `max_tokens` (chat, completions, Anthropic Messages), `max_completion_tokens`
 * (chat; several OpenAI-compatible servers prefer it over max_tokens) and
 * `max_output_tokens` (Responses). An upstream may honour any one of them, so
 * a reservation must cover the largest.
 */
export const COMPLETION_BOUND_FIELDS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'] as const;

/** The largest bound in `json`, or null when it carries none. Values are validated by read-request. */
export function largestCompletionBound(json: Record<string, any>): number | null {
  let largest: number | null = null;
  for (const field of COMPLETION_BOUND_FIELDS) {
    const v = json[field];
    if (typeof v === 'number' && (largest === null || v > largest)) largest = v;
  }
  return largest;
}

/**
 * The field a request of this kind states its completion bound in, for the
 * gateway to add when a priced request carries none (the reservation then uses
 * the configured default, and the upstream must not generate past it):
 * chat `max_completion_tokens` (OpenAI's current field), legacy completions and
 * Anthropic Messages `max_tokens`. null: the kind generates no completion.
 */
export function boundFieldOf(kind: string): CompletionBoundField | null {
  switch (kind) {
    case 'chat': return 'max_completion_tokens';
    case 'completions': case 'messages': return 'max_tokens';
    case 'responses': return 'max_output_tokens';
    default: return null;
  }
}

export type CompletionBoundField = (typeof COMPLETION_BOUND_FIELDS)[number];

/** Splice prefixes by field, for the one configured default bound (built on first use). */
const prefixes = new Map<CompletionBoundField, { value: number; bytes: Buffer }>();

/**
 * `body` (a JSON object with at least its model) with `"field":value` added
 * after the opening brace: a splice, not a re-serialisation.
 */
export function withCompletionBound(body: Buffer, field: CompletionBoundField, value: number): Buffer {
  let prefix = prefixes.get(field);
  if (prefix === undefined || prefix.value !== value) {
    prefix = { value, bytes: Buffer.from(`{"${field}":${value},`) };
    prefixes.set(field, prefix);
  }
  return Buffer.concat([prefix.bytes, body.subarray(body.indexOf(0x7b) + 1)]);
}
