/**
 * Reads an upstream Anthropic Messages stream one event at a time and drives a
 * {@link StreamSink}: message_start → start (and the input usage),
 * content_block_start/delta for text, thinking and tool_use → text / reasoning /
 * toolCall + toolArguments, message_delta → finish (and the output usage),
 * message_stop → end.
 *
 * Rules: data that is not JSON, content before message_start, or an `error` event
 * end the client stream with an error event. `ping`, `content_block_stop`,
 * signature and citation deltas, and event types this reader does not know are
 * dropped: they have no counterpart in the client's protocol, and Anthropic's
 * versioning policy allows new event types at any time.
 */
import { emptyUsage, mergeAnthropicUsage, usageFromAnthropic, type NormalizedUsage } from '../usage-normalized.ts';
import { finishFromAnthropic } from './answer.ts';
import { UPSTREAM_STREAM_ERROR, type StreamReader, type StreamSink } from './stream-sink.ts';

const MALFORMED = 'The upstream sent a malformed stream event.';

export class AnthropicStreamReader implements StreamReader {
  #started = false;
  #ended = false;
  #usage: NormalizedUsage = emptyUsage();
  /** Tool index of each content block index (-1 for blocks that are not tool_use). */
  #toolOfBlock: number[] = [];
  #tools = 0;

  read(data: string, _event: string, sink: StreamSink): void {
    if (this.#ended) return;
    let event: any;
    try {
      event = JSON.parse(data);
    } catch {
      return this.#fail(sink, MALFORMED);
    }
    if (event === null || typeof event !== 'object' || typeof event.type !== 'string') return this.#fail(sink, MALFORMED);
    switch (event.type) {
      case 'message_start': {
        const message = event.message ?? {};
        this.#started = true;
        this.#usage = usageFromAnthropic(message.usage) ?? emptyUsage();
        sink.start(String(message.id ?? ''), String(message.model ?? ''), Math.floor(Date.now() / 1000));
        return;
      }
      case 'content_block_start':
        if (!this.#started) return this.#fail(sink, MALFORMED);
        return this.#blockStart(event, sink);
      case 'content_block_delta':
        if (!this.#started) return this.#fail(sink, MALFORMED);
        return this.#blockDelta(event, sink);
      case 'message_delta': {
        if (!this.#started) return this.#fail(sink, MALFORMED);
        mergeAnthropicUsage(this.#usage, event.usage);
        const delta = event.delta ?? {};
        if (delta.stop_reason !== undefined && delta.stop_reason !== null) {
          sink.finish(finishFromAnthropic(delta.stop_reason), typeof delta.stop_sequence === 'string' ? delta.stop_sequence : null);
        }
        return;
      }
      case 'message_stop':
        if (!this.#started) return this.#fail(sink, MALFORMED);
        this.#ended = true;
        sink.usage(this.#usage);
        sink.end();
        return;
      case 'error': {
        const message = typeof event.error?.message === 'string' ? event.error.message : 'The upstream reported an error.';
        this.#ended = true;
        sink.error(typeof event.error?.type === 'string' ? event.error.type : UPSTREAM_STREAM_ERROR, message);
        return;
      }
      default:
        return; // ping, content_block_stop and unknown types: dropped (see header)
    }
  }

  end(sink: StreamSink): void {
    if (!this.#ended) this.#fail(sink, 'The upstream stream ended before the answer was complete.');
  }

  #blockStart(event: any, sink: StreamSink): void {
    const block = event.content_block ?? {};
    const index = typeof event.index === 'number' ? event.index : this.#toolOfBlock.length;
    if (block.type === 'tool_use' || block.type === 'server_tool_use') {
      const tool = this.#tools++;
      this.#toolOfBlock[index] = tool;
      sink.toolCall(tool, String(block.id ?? 'toolu_' + tool), String(block.name ?? ''));
      // Inputs normally arrive as input_json_delta; a proxy may send them whole here.
      const input = block.input;
      if (input !== undefined && input !== null && typeof input === 'object' && Object.keys(input).length > 0) {
        sink.toolArguments(tool, JSON.stringify(input));
      }
      return;
    }
    this.#toolOfBlock[index] = -1;
    if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') sink.text(block.text);
  }

  #blockDelta(event: any, sink: StreamSink): void {
    const delta = event.delta ?? {};
    switch (delta.type) {
      case 'text_delta':
        if (typeof delta.text === 'string' && delta.text !== '') sink.text(delta.text);
        return;
      case 'thinking_delta':
        if (typeof delta.thinking === 'string' && delta.thinking !== '') sink.reasoning(delta.thinking);
        return;
      case 'input_json_delta': {
        const tool = this.#toolOfBlock[event.index];
        if (tool !== undefined && tool >= 0 && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
          sink.toolArguments(tool, delta.partial_json);
        }
        return;
      }
      default:
        return; // signature_delta, citations_delta, unknown deltas
    }
  }

  #fail(sink: StreamSink, message: string): void {
    this.#ended = true;
    sink.error(UPSTREAM_STREAM_ERROR, message);
  }
}
