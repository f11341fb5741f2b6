/**
 * The client API routes served by the hot path (plain node:http, no router):
 * an exact `METHOD path` lookup, built once. Everything else goes to Fastify.
 */
export type EndpointKind = 'chat' | 'completions' | 'embeddings' | 'models' | 'messages';
/** The wire protocol an endpoint speaks; a channel serves the protocols its provider speaks. */
export type Protocol = 'openai' | 'anthropic';

export interface Endpoint {
  readonly kind: EndpointKind;
  /** The metrics label. */
  readonly route: string;
  /** Path the upstream is called on, relative to the OpenAI `/v1` root. */
  readonly upstreamPath: string;
  /** Whether the body may ask for `stream: true`. */
  readonly streamable: boolean;
  readonly protocol: Protocol;
}

const endpoint = (kind: EndpointKind, route: string, upstreamPath: string, streamable: boolean, protocol: Protocol = 'openai'): Endpoint => ({ kind, route, upstreamPath, streamable, protocol });

const chat = endpoint('chat', 'chat', '/chat/completions', true);

/** `METHOD /path` → endpoint. */
export const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map([
  ['POST /v1/chat/completions', chat],
  ['POST /api/v1/proxy/llm', endpoint('chat', 'proxy', '/chat/completions', true)],
  ['POST /v1/completions', endpoint('completions', 'completions', '/completions', true)],
  ['POST /v1/embeddings', endpoint('embeddings', 'embeddings', '/embeddings', false)],
  ['GET /v1/models', endpoint('models', 'models', '/models', false)],
  ['POST /v1/messages', endpoint('messages', 'messages', '/messages', true, 'anthropic')],
]);

/** The token-estimate flavour of a model-call endpoint ('models' carries no prompt). */
export const promptKind = (e: Endpoint): 'chat' | 'completions' | 'embeddings' | 'messages' => (e.kind === 'models' ? 'chat' : e.kind);

/** Paths the hot path owns, so a wrong method there gets 405 rather than Fastify's 404. */
export const HOT_PATHS: ReadonlySet<string> = new Set([...ENDPOINTS.keys()].map((k) => k.slice(k.indexOf(' ') + 1)));

/** The path without its query string, without allocating when there is none. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
