/**
 * Writes an Anthropic Messages stream for the client, in the documented order:
 *
 *   message_start
 *   (content_block_start, content_block_delta*, content_block_stop)*   text | tool_use
 *   message_delta   (stop_reason, stop_sequence, usage)
 *   message_stop
 *
 * A block is closed when the next one starts or the answer finishes. The input
 * usage is not known when message_start goes out (a chat upstream reports usage
 * last), so message_start carries zeros and message_delta the full usage, input and
 * cache fields included, which the Anthropic clients fold into the final message.
 * (A producer that knows the input usage up front, like the mock upstream, calls
 * usage() before start() and message_start carries it, as Anthropic's does.)
 * Reasoning text from a chat upstream is not written: Anthropic thinking blocks need
 * a signature we cannot make. An error becomes `event: error`.
 */
import { emptyUsage, usageToAnthropic, type NormalizedUsage } from '../usage-normalized.ts';
import { finishToAnthropic, withPrefix, type FinishReason } from './answer.ts';
import { sseEvent } from './sse-frame.ts';
import type { ClientWriter } from './stream-sink.ts';

const NO_BLOCK = -1;

export class AnthropicStreamWriter implements ClientWriter {
  #out = '';
  #started = false;
  /** Index of the open content block, NO_BLOCK when none. */
  #open = NO_BLOCK;
  #openIsText = false;
  #blocks = 0;
  /** Content block index of each tool call. */
  #blockOfTool: number[] = [];
  #finish: FinishReason = 'stop';
  #stopSequence: string | null = null;
  #usage: NormalizedUsage = emptyUsage();
  closed = false;
  failed = false;

  take(): string {
    const out = this.#out;
    this.#out = '';
    return out;
  }

  start(id: string, model: string, _created: number): void {
    if (this.#started) return;
    this.#started = true;
    this.#out += sseEvent('message_start', JSON.stringify({
      type: 'message_start',
      message: {
        id: withPrefix('msg_', id), type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
        usage: { ...usageToAnthropic(this.#usage), output_tokens: 0 },
      },
    }));
  }

  text(delta: string): void {
    if (this.closed) return;
    if (this.#open === NO_BLOCK || !this.#openIsText) {
      this.#openBlock(true, '{"type":"text","text":""}');
    }
    this.#out += 'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + this.#open +
      ',"delta":{"type":"text_delta","text":' + JSON.stringify(delta) + '}}\n\n';
  }

  reasoning(_delta: string): void {}

  toolCall(index: number, id: string, name: string): void {
    if (this.closed) return;
    this.#openBlock(false, '{"type":"tool_use","id":' + JSON.stringify(id) + ',"name":' + JSON.stringify(name) + ',"input":{}}');
    this.#blockOfTool[index] = this.#open;
  }

  toolArguments(index: number, delta: string): void {
    if (this.closed) return;
    const block = this.#blockOfTool[index];
    if (block === undefined) return;
    this.#out += 'event: content_block_delta\ndata: {"type":"content_block_delta","index":' + block +
      ',"delta":{"type":"input_json_delta","partial_json":' + JSON.stringify(delta) + '}}\n\n';
  }

  finish(reason: FinishReason, stopSequence: string | null): void {
    this.#closeBlock();
    this.#finish = reason;
    this.#stopSequence = stopSequence;
  }

  usage(usage: NormalizedUsage): void {
    this.#usage = usage;
  }

  end(): void {
    if (this.closed) return;
    this.#closeBlock();
    this.closed = true;
    this.#out += sseEvent('message_delta', JSON.stringify({
      type: 'message_delta',
      delta: { stop_reason: finishToAnthropic(this.#finish, this.#stopSequence), stop_sequence: this.#stopSequence },
      usage: usageToAnthropic(this.#usage),
    }));
    this.#out += 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
  }

  error(type: string, message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.failed = true;
    this.#out += sseEvent('error', JSON.stringify({ type: 'error', error: { type, message } }));
  }

  #openBlock(isText: boolean, block: string): void {
    this.#closeBlock();
    this.#open = this.#blocks++;
    this.#openIsText = isText;
    this.#out += 'event: content_block_start\ndata: {"type":"content_block_start","index":' + this.#open + ',"content_block":' + block + '}\n\n';
  }

  #closeBlock(): void {
    if (this.#open === NO_BLOCK || this.closed) return;
    this.#out += 'event: content_block_stop\ndata: {"type":"content_block_stop","index":' + this.#open + '}\n\n';
    this.#open = NO_BLOCK;
  }
}
