/**
 * Reads an upstream chat completions stream (`data: {chunk}` … `data: [DONE]`) one
 * event at a time and drives a {@link StreamSink}. Only choice 0 is followed
 * (translated requests ask for one choice).
 *
 * Rules: a chunk that is not JSON, or an `{"error":…}` object, ends the client
 * stream with an error event. Chunks of unknown shape that are valid JSON are
 * dropped. The stream is complete at `[DONE]`, or at the end of the body when a
 * finish_reason was seen (some servers omit `[DONE]`); otherwise it was cut short.
 */
import { emptyUsage, usageFromChat } from '../usage-normalized.ts';
import { finishFromChat } from './answer.ts';
import { UPSTREAM_STREAM_ERROR, type StreamReader, type StreamSink } from './stream-sink.ts';

export class ChatStreamReader implements StreamReader {
  #started = false;
  #finished = false;
  #ended = false;
  /** Tool calls started so far; upstream indexes are mapped to our 0-based order. */
  #toolIndexes: number[] = [];

  read(data: string, _event: string, sink: StreamSink): void {
    if (this.#ended) return;
    if (data === '[DONE]') return this.#end(sink);
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      return this.#fail(sink, 'The upstream sent a malformed stream event.');
    }
    if (chunk === null || typeof chunk !== 'object') return this.#fail(sink, 'The upstream sent a malformed stream event.');
    if (chunk.error !== undefined) {
      const message = typeof chunk.error?.message === 'string' ? chunk.error.message : 'The upstream reported an error.';
      return this.#fail(sink, message);
    }
    if (!this.#started) {
      this.#started = true;
      sink.start(String(chunk.id ?? ''), String(chunk.model ?? ''), typeof chunk.created === 'number' ? chunk.created : Math.floor(Date.now() / 1000));
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c: any) => c?.index === 0 || c?.index === undefined) : undefined;
    if (choice !== undefined && choice !== null) {
      const delta = choice.delta;
      if (delta !== null && typeof delta === 'object') {
        if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') sink.reasoning(delta.reasoning_content);
        if (typeof delta.content === 'string' && delta.content !== '') sink.text(delta.content);
        if (Array.isArray(delta.tool_calls)) this.#toolDeltas(delta.tool_calls, sink);
      }
      if (typeof choice.finish_reason === 'string' && !this.#finished) {
        this.#finished = true;
        sink.finish(finishFromChat(choice.finish_reason), null);
      }
    }
    const usage = usageFromChat(chunk.usage);
    if (usage !== null) sink.usage(usage);
  }

  end(sink: StreamSink): void {
    if (this.#ended) return;
    if (this.#finished) this.#end(sink);
    else this.#fail(sink, 'The upstream stream ended before the answer was complete.');
  }

  #toolDeltas(calls: any[], sink: StreamSink): void {
    for (const call of calls) {
      if (call === null || typeof call !== 'object') continue;
      const upstreamIndex = typeof call.index === 'number' ? call.index : 0;
      let index = this.#toolIndexes.indexOf(upstreamIndex);
      const fn = call.function ?? {};
      if (index < 0) {
        index = this.#toolIndexes.length;
        this.#toolIndexes.push(upstreamIndex);
        const id = typeof call.id === 'string' && call.id !== '' ? call.id : 'call_' + index;
        sink.toolCall(index, id, typeof fn.name === 'string' ? fn.name : '');
      }
      if (typeof fn.arguments === 'string' && fn.arguments !== '') sink.toolArguments(index, fn.arguments);
    }
  }

  #end(sink: StreamSink): void {
    this.#ended = true;
    if (!this.#started) {
      this.#started = true;
      sink.start('', '', Math.floor(Date.now() / 1000));
    }
    if (!this.#finished) {
      this.#finished = true;
      sink.finish('stop', null);
      sink.usage(emptyUsage());
    }
    sink.end();
  }

  #fail(sink: StreamSink, message: string): void {
    this.#ended = true;
    sink.error(UPSTREAM_STREAM_ERROR, message);
  }
}
