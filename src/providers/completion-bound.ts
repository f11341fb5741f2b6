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
