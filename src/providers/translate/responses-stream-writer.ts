/**
 * Writes an OpenAI Responses stream for the client, in the documented order, every
 * event with its `sequence_number`:
 *
 *   response.created, response.in_progress
 *   per output item, one at a time:
 *     message:   output_item.added, content_part.added, output_text.delta*,
 *                output_text.done, content_part.done, output_item.done
 *     function:  output_item.added, function_call_arguments.delta*,
 *                function_call_arguments.done, output_item.done
 *     reasoning: output_item.added, reasoning_summary_part.added,
 *                reasoning_summary_text.delta*, reasoning_summary_text.done,
 *                reasoning_summary_part.done, output_item.done
 *   response.completed | response.incomplete (with usage)
 *
 * Deltas go out as they arrive. The protocol repeats the whole text in the *.done
 * events and in the final response object, so the writer keeps each item's text;
 * that is the only thing it holds. An error becomes `response.failed`.
 */
import { emptyUsage, type NormalizedUsage } from '../usage-normalized.ts';
import { withPrefix, type FinishReason } from './answer.ts';
import { functionItemId, responseObject, type ResponsesEcho } from './answer-write.ts';
import type { ResponsesOutputItem } from './responses-wire.ts';
import { sseEvent } from './sse-frame.ts';
import type { ClientWriter } from './stream-sink.ts';

type ItemKind = 'none' | 'message' | 'function' | 'reasoning';

export class ResponsesStreamWriter implements ClientWriter {
  readonly #echo: ResponsesEcho;
  #out = '';
  #seq = 0;
  #id = '';
  #model = '';
  #created = 0;
  #output: ResponsesOutputItem[] = [];
  // The open item: its kind, id (and JSON of it), position, accumulated text, tool fields.
  #kind: ItemKind = 'none';
  #itemId = '';
  #itemIdJson = '';
  #index = -1;
  #text = '';
  #tool = -1;
  #callId = '';
  #name = '';
  #finish: FinishReason = 'stop';
  #usage: NormalizedUsage = emptyUsage();
  closed = false;
  failed = false;

  constructor(echo: ResponsesEcho) {
    this.#echo = echo;
  }

  take(): string {
    const out = this.#out;
    this.#out = '';
    return out;
  }

  start(id: string, model: string, created: number): void {
    if (this.#id !== '') return;
    this.#id = withPrefix('resp_', id === '' ? 'resp_' + created : id);
    this.#model = model;
    this.#created = created;
    const response = responseObject(this.#id, model, created, [], null, null, this.#echo);
    this.#emit('response.created', { response });
    this.#emit('response.in_progress', { response });
  }

  text(delta: string): void {
    if (this.closed) return;
    if (this.#kind !== 'message') {
      this.#openItem('message', 'msg_' + this.#id.slice(5) + '_' + (this.#index + 1));
      this.#emit('response.output_item.added', {
        output_index: this.#index, item: { id: this.#itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
      });
      this.#emit('response.content_part.added', {
        item_id: this.#itemId, output_index: this.#index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] },
      });
    }
    this.#text += delta;
    this.#out += 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":' + this.#itemIdJson +
      ',"output_index":' + this.#index + ',"content_index":0,"delta":' + JSON.stringify(delta) + ',"logprobs":[],"sequence_number":' +
      this.#seq++ + '}\n\n';
  }

  reasoning(delta: string): void {
    if (this.closed) return;
    if (this.#kind !== 'reasoning') {
      this.#openItem('reasoning', 'rs_' + this.#id.slice(5) + '_' + (this.#index + 1));
      this.#emit('response.output_item.added', { output_index: this.#index, item: { id: this.#itemId, type: 'reasoning', summary: [] } });
      this.#emit('response.reasoning_summary_part.added', {
        item_id: this.#itemId, output_index: this.#index, summary_index: 0, part: { type: 'summary_text', text: '' },
      });
    }
    this.#text += delta;
    this.#emit('response.reasoning_summary_text.delta', { item_id: this.#itemId, output_index: this.#index, summary_index: 0, delta });
  }

  toolCall(index: number, id: string, name: string): void {
    if (this.closed) return;
    this.#openItem('function', functionItemId(id));
    this.#tool = index;
    this.#callId = id;
    this.#name = name;
    this.#emit('response.output_item.added', {
      output_index: this.#index,
      item: { id: this.#itemId, type: 'function_call', status: 'in_progress', arguments: '', call_id: id, name },
    });
  }

  toolArguments(index: number, delta: string): void {
    // Chat and Anthropic upstreams stream one tool call after another; a fragment for
    // an earlier call cannot be placed once its item is done, so it is dropped.
    if (this.closed || this.#kind !== 'function' || index !== this.#tool) return;
    this.#text += delta;
    this.#out += 'event: response.function_call_arguments.delta\ndata: {"type":"response.function_call_arguments.delta","item_id":' +
      this.#itemIdJson + ',"output_index":' + this.#index + ',"delta":' + JSON.stringify(delta) + ',"sequence_number":' + this.#seq++ + '}\n\n';
  }

  finish(reason: FinishReason, _stopSequence: string | null): void {
    this.#closeItem();
    this.#finish = reason;
  }

  usage(usage: NormalizedUsage): void {
    this.#usage = usage;
  }

  end(): void {
    if (this.closed) return;
    this.#closeItem();
    this.closed = true;
    const response = responseObject(this.#id, this.#model, this.#created, this.#output, this.#finish, this.#usage, this.#echo);
    this.#emit(response.status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
  }

  error(type: string, message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.failed = true;
    const response = responseObject(this.#id, this.#model, this.#created, this.#output, null, null, this.#echo);
    response.status = 'failed';
    response.error = { code: type === 'api_error' ? 'server_error' : type, message };
    this.#emit('response.failed', { response });
  }

  #openItem(kind: ItemKind, id: string): void {
    this.#closeItem();
    this.#kind = kind;
    this.#itemId = id;
    this.#itemIdJson = JSON.stringify(id);
    this.#index = this.#output.length;
    this.#text = '';
  }

  #closeItem(): void {
    const id = this.#itemId;
    const output_index = this.#index;
    const text = this.#text;
    switch (this.#kind) {
      case 'none':
        return;
      case 'message': {
        const part = { type: 'output_text' as const, text, annotations: [] };
        this.#emit('response.output_text.done', { item_id: id, output_index, content_index: 0, text, logprobs: [] });
        this.#emit('response.content_part.done', { item_id: id, output_index, content_index: 0, part });
        const item: ResponsesOutputItem = { id, type: 'message', status: 'completed', role: 'assistant', content: [part] };
        this.#output.push(item);
        this.#emit('response.output_item.done', { output_index, item });
        break;
      }
      case 'function': {
        this.#emit('response.function_call_arguments.done', { item_id: id, output_index, name: this.#name, arguments: text });
        const item: ResponsesOutputItem = { id, type: 'function_call', status: 'completed', arguments: text, call_id: this.#callId, name: this.#name };
        this.#output.push(item);
        this.#emit('response.output_item.done', { output_index, item });
        break;
      }
      case 'reasoning': {
        const part = { type: 'summary_text' as const, text };
        this.#emit('response.reasoning_summary_text.done', { item_id: id, output_index, summary_index: 0, text });
        this.#emit('response.reasoning_summary_part.done', { item_id: id, output_index, summary_index: 0, part });
        const item: ResponsesOutputItem = { id, type: 'reasoning', summary: [part] };
        this.#output.push(item);
        this.#emit('response.output_item.done', { output_index, item });
        break;
      }
    }
    this.#kind = 'none';
    this.#text = '';
  }

  #emit(type: string, fields: Record<string, unknown>): void {
    this.#out += sseEvent(type, JSON.stringify({ type, ...fields, sequence_number: this.#seq++ }));
  }
}
