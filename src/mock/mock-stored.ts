/**
 * The mock's stored Responses API objects: each response it creates (unless
 * `store: false`) is kept, with its input items, so `GET` and `DELETE
 * /v1/responses/{id}`, `POST …/cancel` and `GET …/input_items` answer as
 * OpenAI's do. Kept in memory per server, bounded (oldest dropped first).
 */
import { requestErrorBody } from './mock-errors.ts';

const MAX_STORED = 10_000;
const PREFIX = '/v1/responses/';

/** An answer for the caller to send as JSON. */
export interface StoredAnswer { readonly status: number; readonly body: string }

interface StoredResponse {
  /** The response object as a non-streamed POST would have answered it. */
  readonly object: Record<string, unknown>;
  readonly input: readonly Record<string, unknown>[];
  readonly background: boolean;
}

export class StoredResponses {
  readonly #byId = new Map<string, StoredResponse>();

  remember(id: string, body: string, request: Record<string, unknown>): void {
    if (request.store === false) return;
    if (this.#byId.size >= MAX_STORED) this.#byId.delete(this.#byId.keys().next().value!);
    const input = typeof request.input === 'string' ? [{ role: 'user', content: [{ type: 'input_text', text: request.input }] }] : (request.input as Record<string, unknown>[]);
    const items = input.map((item, i) => ({ id: `msg_${id.slice(5)}_${i}`, type: 'message', ...item }));
    this.#byId.set(id, { object: JSON.parse(body), input: items, background: request.background === true });
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Whether `path` is a call on a stored response. */
  static handles(path: string): boolean {
    return path.length > PREFIX.length && path.startsWith(PREFIX);
  }

  /** Answers GET/DELETE /v1/responses/{id}, POST …/cancel and GET …/input_items. */
  answer(method: string, path: string, url: string): StoredAnswer {
    const rest = path.slice(PREFIX.length);
    const slash = rest.indexOf('/');
    const id = slash < 0 ? rest : rest.slice(0, slash);
    const call = `${method} ${slash < 0 ? '' : rest.slice(slash)}`;
    const stored = this.#byId.get(id);
    if (!['GET ', 'DELETE ', 'POST /cancel', 'GET /input_items'].includes(call)) return notFound(`Invalid URL (${method} ${path})`);
    if (stored === undefined) return notFound(`Response with id '${id}' not found.`);
    switch (call) {
      case 'GET ':
        return { status: 200, body: JSON.stringify(stored.object) };
      case 'DELETE ':
        this.#byId.delete(id);
        return { status: 200, body: JSON.stringify({ id, object: 'response', deleted: true }) };
      case 'POST /cancel':
        if (!stored.background) return { status: 400, body: requestErrorBody(400, 'openai', 'Only responses created with background: true can be cancelled.', null, null) };
        stored.object.status = 'cancelled';
        return { status: 200, body: JSON.stringify(stored.object) };
      default:
        return { status: 200, body: JSON.stringify(inputItems(stored.input, new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length)))) };
    }
  }
}

/** A page of input items: `order` (asc|desc, default desc) and `limit` (default 20), as OpenAI's list. */
function inputItems(items: readonly Record<string, unknown>[], query: URLSearchParams): Record<string, unknown> {
  const ordered = query.get('order') === 'asc' ? [...items] : [...items].reverse();
  const limit = Number(query.get('limit') ?? 20);
  const data = ordered.slice(0, limit >= 1 ? limit : 20);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: data.length < ordered.length };
}

function notFound(message: string): StoredAnswer {
  return { status: 404, body: requestErrorBody(404, 'openai', message, null, null) };
}
