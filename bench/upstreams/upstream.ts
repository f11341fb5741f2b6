/** An upstream the targets relay to, with a count of the requests that reached it. */
export interface Upstream {
  /** 'mock' (the project's mock provider) or 'nginx' (a fixed 200 answer). */
  readonly kind: 'mock' | 'nginx';
  /** Base URL without path, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** Requests that reached the upstream since it started. */
  hits(): Promise<number>;
}

/**
 * The canned non-streaming answer: the shape of an OpenAI chat completion with
 * usage, so that gateways can meter it. nginx returns it verbatim.
 */
export const cannedCompletion = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1700000000,
  model: 'mock-gpt',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the bench upstream.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
});
