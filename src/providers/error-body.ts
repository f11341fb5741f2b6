/** Reading an upstream's error body: both OpenAI and Anthropic put the message at `error.message`. */

/** How much of an upstream error body is kept. */
export const MAX_ERROR_BODY = 4096;

/** The upstream's own message when its body is `{"error":{"message":...}}` JSON, else the raw text. */
export function jsonErrorMessage(text: string): string {
  try {
    const message = JSON.parse(text)?.error?.message;
    if (typeof message === 'string') return message.slice(0, MAX_ERROR_BODY);
  } catch {
    // not JSON: use the raw text
  }
  return text.length === 0 ? '(no body)' : text.slice(0, MAX_ERROR_BODY);
}
