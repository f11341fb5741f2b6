/**
 * The client API routes served by the hot path (plain node:http, no router):
 * an exact `METHOD path` lookup, built once. Everything else goes to Fastify.
 */
export type EndpointKind = 'chat' | 'completions' | 'embeddings' | 'models' | 'messages' | 'responses' | 'count_tokens';
/**
 * The wire protocol an endpoint speaks: OpenAI's (chat, completions, embeddings),
 * OpenAI's Responses API, or Anthropic Messages. A channel serves the protocols
 * its provider speaks natively, and the conversational ones by translation.
 */
export type Protocol = 'openai' | 'responses' | 'anthropic';

export interface Endpoint {
  readonly kind: EndpointKind;
  /** The metrics label. */
  readonly route: string;
  /** Path the upstream is called on, relative to the OpenAI `/v1` root. */
  readonly upstreamPath: string;
  /** Whether the body may ask for `stream: true`. */
  readonly streamable: boolean;
  readonly protocol: Protocol;
  /**
   * Whether a channel that does not speak this protocol may serve it by translation
   * (chat, Responses and Messages translate into each other; completions and embeddings do not).
   */
  readonly translatable: boolean;
}

const endpoint = (kind: EndpointKind, route: string, upstreamPath: string, streamable: boolean, protocol: Protocol = 'openai'): Endpoint => ({
  kind, route, upstreamPath, streamable, protocol, translatable: kind === 'chat' || kind === 'messages' || kind === 'responses' || kind === 'count_tokens',
});

const chat = endpoint('chat', 'chat', '/chat/completions', true);

/** `METHOD /path` → endpoint. */
export const ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map([
  ['POST /v1/chat/completions', chat],
  ['POST /api/v1/proxy/llm', endpoint('chat', 'proxy', '/chat/completions', true)],
  ['POST /v1/completions', endpoint('completions', 'completions', '/completions', true)],
  ['POST /v1/embeddings', endpoint('embeddings', 'embeddings', '/embeddings', false)],
  ['GET /v1/models', endpoint('models', 'models', '/models', false)],
  ['POST /v1/responses', endpoint('responses', 'responses', '/responses', true, 'responses')],
  ['POST /v1/messages', endpoint('messages', 'messages', '/messages', true, 'anthropic')],
  // Answered by the gateway (a local count), never relayed.
  ['POST /v1/messages/count_tokens', endpoint('count_tokens', 'count_tokens', '/messages/count_tokens', false, 'anthropic')],
]);

/** `GET /v1/models/{id}`: the one parametrised hot path, matched by prefix. */
export const MODEL_PATH_PREFIX = '/v1/models/';
export const MODEL_ENDPOINT: Endpoint = endpoint('models', 'models', '/models', false);

/** The token-estimate flavour of a model-call endpoint ('models' carries no prompt). */
export const promptKind = (e: Endpoint): 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses' =>
  e.kind === 'models' ? 'chat' : e.kind === 'count_tokens' ? 'messages' : e.kind;

/** Paths the hot path owns, so a wrong method there gets 405 rather than Fastify's 404. */
export const HOT_PATHS: ReadonlySet<string> = new Set([...ENDPOINTS.keys()].map((k) => k.slice(k.indexOf(' ') + 1)));

/** The path without its query string, without allocating when there is none. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
