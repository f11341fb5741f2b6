/**
 * Writes a chat completions stream for the client: a role chunk, content /
 * reasoning_content / tool_calls delta chunks, a finish_reason chunk, the usage chunk
 * (`choices: []`) when the client asked for `stream_options.include_usage`, then
 * `data: [DONE]`. An error becomes a `data: {"error":{…}}` chunk, which the openai
 * clients raise as an APIError, and no `[DONE]`.
 *
 * Each chunk is concatenated from a head built once per stream (id, object, created,
 * model) and the JSON-escaped delta, not stringified whole.
 */
import { emptyUsage, usageToChat, type NormalizedUsage } from '../usage-normalized.ts';
import { withPrefix, type FinishReason } from './answer.ts';
import { SSE_DONE, sseData } from './sse-frame.ts';
import type { ClientWriter } from './stream-sink.ts';

export class ChatStreamWriter implements ClientWriter {
  readonly #includeUsage: boolean;
  #out = '';
  #head = '';
  #usage: NormalizedUsage = emptyUsage();
  closed = false;
  failed = false;

  constructor(includeUsage: boolean) {
    this.#includeUsage = includeUsage;
  }

  take(): string {
    const out = this.#out;
    this.#out = '';
    return out;
  }

  start(id: string, model: string, created: number): void {
    this.#head = '{"id":' + JSON.stringify(withPrefix('chatcmpl-', id)) + ',"object":"chat.completion.chunk","created":' + created +
      ',"model":' + JSON.stringify(model) + ',"system_fingerprint":null,"choices":';
    this.#choice('{"role":"assistant","content":""}', 'null');
  }

  text(delta: string): void {
    this.#choice('{"content":' + JSON.stringify(delta) + '}', 'null');
  }

  reasoning(delta: string): void {
    this.#choice('{"reasoning_content":' + JSON.stringify(delta) + '}', 'null');
  }

  toolCall(index: number, id: string, name: string): void {
    this.#choice(
      '{"tool_calls":[{"index":' + index + ',"id":' + JSON.stringify(id) + ',"type":"function","function":{"name":' + JSON.stringify(name) +
        ',"arguments":""}}]}',
      'null',
    );
  }

  toolArguments(index: number, delta: string): void {
    this.#choice('{"tool_calls":[{"index":' + index + ',"function":{"arguments":' + JSON.stringify(delta) + '}}]}', 'null');
  }

  finish(reason: FinishReason, _stopSequence: string | null): void {
    this.#choice('{}', '"' + reason + '"');
  }

  usage(usage: NormalizedUsage): void {
    this.#usage = usage;
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.#includeUsage) this.#out += sseData(this.#head + '[],"usage":' + JSON.stringify(usageToChat(this.#usage)) + '}');
    this.#out += SSE_DONE;
  }

  error(type: string, message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.failed = true;
    this.#out += sseData(JSON.stringify({ error: { message, type: type === 'api_error' ? 'server_error' : type, param: null, code: 'upstream_error' } }));
  }

  #choice(delta: string, finish: string): void {
    if (this.closed) return;
    this.#out += 'data: ' + this.#head + '[{"index":0,"delta":' + delta + ',"logprobs":null,"finish_reason":' + finish + '}]}\n\n';
  }
}
