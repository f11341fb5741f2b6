/**
 * Admin routes for outbound proxies and the user/key bindings to them. A
 * proxy's credentials go in (in its URL or as username/password) and never
 * come out: views show `has_credentials` and the credential-free URL. Every
 * mutation rebuilds this node's proxy table before answering.
 */
import { parseProxyUrl, StoreInputError, type OutboundProxy, type ProxyBinding } from '../store/store.ts';
import { checkUpstreamUrl, DEFAULT_ADDRESS_POLICY } from '../routing/upstream-address-policy.ts';
import { badInput, bool, idParams, int, listOf, notFound, object, ref, str, type AdminContext, type AdminRoute, type JsonSchema } from './admin-schema.ts';
import { coolingIndex, type CoolingIndex, type HealthView } from './admin-views.ts';

/** A proxy as the API shows it: never its credentials. */
export interface ProxyView {
  object: 'proxy';
  id: number;
  name: string;
  kind: string;
  /** scheme://host:port, without credentials. */
  url: string;
  /** null: the global pool. */
  channel_id: number | null;
  enabled: boolean;
  has_credentials: boolean;
  /** Whether this node's live proxy table includes it. */
  routed: boolean;
  created_at: number;
  health: HealthView;
}

export interface ProxyBindingView {
  object: 'proxy_binding';
  scope: 'user' | 'key';
  subject_id: number;
  proxy_id: number;
  created_at: number;
}

const I = { type: 'integer' } as const;
const health: JsonSchema = { type: 'object', properties: { cooling: { type: 'boolean' }, failures: I, cooldown_remaining_ms: I }, required: ['cooling', 'failures', 'cooldown_remaining_ms'] };

/** `components.schemas` entries of the proxy views. */
export const PROXY_SCHEMAS: Record<string, JsonSchema> = {
  Proxy: {
    type: 'object',
    properties: {
      object: { const: 'proxy' }, id: I, name: { type: 'string' }, kind: { type: 'string', enum: ['http', 'https', 'socks5'] }, url: { type: 'string' },
      channel_id: { type: ['integer', 'null'] }, enabled: { type: 'boolean' }, has_credentials: { type: 'boolean' }, routed: { type: 'boolean' }, created_at: I, health,
    },
    required: ['object', 'id', 'name', 'kind', 'url', 'channel_id', 'enabled', 'has_credentials', 'routed', 'created_at', 'health'],
  },
  ProxyBinding: {
    type: 'object',
    properties: { object: { const: 'proxy_binding' }, scope: { type: 'string', enum: ['user', 'key'] }, subject_id: I, proxy_id: I, created_at: I },
    required: ['object', 'scope', 'subject_id', 'proxy_id', 'created_at'],
  },
};

function proxyView(p: OutboundProxy, ctx: AdminContext, cooling: CoolingIndex): ProxyView {
  const c = cooling.get(`proxy:${p.id}`);
  return {
    object: 'proxy', id: p.id, name: p.name, kind: p.kind, url: p.url, channel_id: p.channelId, enabled: p.enabled, has_credentials: p.hasCredentials,
    routed: ctx.gw.proxies.proxies.some((r) => r.id === p.id), created_at: p.createdAt,
    health: c === undefined ? { cooling: false, failures: 0, cooldown_remaining_ms: 0 } : { cooling: true, failures: c.failures, cooldown_remaining_ms: c.remainingMs },
  };
}

const bindingView = (b: ProxyBinding): ProxyBindingView => ({ object: 'proxy_binding', scope: b.scope, subject_id: b.subjectId, proxy_id: b.proxyId, created_at: b.createdAt });

async function view(ctx: AdminContext, id: number): Promise<ProxyView> {
  const proxy = (await ctx.store.proxies.list()).find((p) => p.id === id);
  if (proxy === undefined) throw notFound('proxy', id);
  return proxyView(proxy, ctx, coolingIndex(ctx.gw, Date.now()));
}

/** The URL's form and address checked; a message never repeats the URL (it may hold credentials). */
function checkProxyUrl(value: string): void {
  let address: string;
  try {
    address = parseProxyUrl(value).url;
  } catch (err) {
    if (err instanceof StoreInputError) throw badInput('url', `Invalid request body: 'url' ${err.message.replace(/^proxy url /, '')}.`);
    throw err;
  }
  // Only the always-refused kinds (metadata, link-local, unspecified): proxies usually live on private networks.
  const verdict = checkUpstreamUrl(address.replace(/^socks5:/, 'http:'), DEFAULT_ADDRESS_POLICY);
  if (!verdict.ok) throw badInput('url', `Invalid request body: 'url' is refused: ${verdict.message}.`);
}

const SCOPE: JsonSchema = { type: 'string', enum: ['user', 'key'] };

export const PROXY_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST', url: '/admin/proxies', operationId: 'createProxy', tag: 'proxies', status: 201, response: ref('Proxy'),
    summary: 'Add an outbound proxy (HTTP(S) CONNECT or SOCKS5) to the global pool or to one channel\'s pool',
    body: object({
      name: str(200, 'unique proxy name'),
      url: str(2000, 'http://, https:// or socks5://[user:password@]host:port'),
      username: str(255, 'instead of credentials in the URL'),
      password: { type: 'string', maxLength: 255 },
      channel_id: { type: ['integer', 'null'], minimum: 1, description: 'only this channel\'s unbound traffic uses it; null: the global pool' },
    }, ['name', 'url']),
    async handler({ body }, ctx) {
      checkProxyUrl(body.url);
      const proxy = await ctx.store.proxies.add({ name: body.name, url: body.url, username: body.username, password: body.password, channelId: body.channel_id ?? null });
      await ctx.applied();
      return view(ctx, proxy.id);
    },
  },
  {
    method: 'GET', url: '/admin/proxies', operationId: 'listProxies', tag: 'proxies', status: 200, response: listOf(ref('Proxy')),
    summary: "List outbound proxies with this node's health and cooldowns (never their credentials)",
    async handler(_input, ctx) {
      const cooling = coolingIndex(ctx.gw, Date.now());
      return { object: 'list', data: (await ctx.store.proxies.list()).map((p) => proxyView(p, ctx, cooling)) };
    },
  },
  {
    method: 'GET', url: '/admin/proxies/:id', operationId: 'getProxy', tag: 'proxies', status: 200, response: ref('Proxy'), notFound: true,
    summary: 'Get an outbound proxy with health', params: idParams(),
    handler: ({ params }, ctx) => view(ctx, params.id),
  },
  {
    method: 'PATCH', url: '/admin/proxies/:id', operationId: 'updateProxy', tag: 'proxies', status: 200, response: ref('Proxy'), notFound: true,
    summary: 'Enable or disable a proxy (traffic bound to a disabled proxy is refused, not rerouted)', params: idParams(),
    body: object({ enabled: bool() }, ['enabled']),
    async handler({ params, body }, ctx) {
      if (!(await ctx.store.proxies.setEnabled(params.id, body.enabled))) throw notFound('proxy', params.id);
      await ctx.applied();
      return view(ctx, params.id);
    },
  },
  {
    method: 'DELETE', url: '/admin/proxies/:id', operationId: 'deleteProxy', tag: 'proxies', status: 200, response: ref('Deleted'), notFound: true,
    summary: 'Remove a proxy and the bindings to it', params: idParams(),
    async handler({ params }, ctx) {
      if (!(await ctx.store.proxies.remove(params.id))) throw notFound('proxy', params.id);
      await ctx.applied();
      return { object: 'proxy', id: params.id, deleted: true };
    },
  },
  {
    method: 'GET', url: '/admin/proxy-bindings', operationId: 'listProxyBindings', tag: 'proxies', status: 200, response: listOf(ref('ProxyBinding')),
    summary: 'List the users and keys bound to a proxy',
    handler: async (_input, ctx) => ({ object: 'list', data: (await ctx.store.proxies.bindings()).map(bindingView) }),
  },
  {
    method: 'PUT', url: '/admin/proxy-bindings', operationId: 'bindProxy', tag: 'proxies', status: 200, response: ref('ProxyBinding'),
    summary: "Bind a user or client key to a proxy: its traffic always leaves through it (a key's binding wins over its user's)",
    body: object({ scope: SCOPE, subject_id: int(1, Number.MAX_SAFE_INTEGER, 'the user or key id'), proxy_id: int(1) }, ['scope', 'subject_id', 'proxy_id']),
    async handler({ body }, ctx) {
      const binding = await ctx.store.proxies.bind(body.scope, body.subject_id, body.proxy_id);
      await ctx.applied();
      return bindingView(binding);
    },
  },
  {
    method: 'DELETE', url: '/admin/proxy-bindings/:scope/:subjectId', operationId: 'unbindProxy', tag: 'proxies', status: 200, response: { type: 'object' }, notFound: true,
    summary: 'Remove a binding: the traffic goes back to the pools',
    params: object({ scope: SCOPE, subjectId: int(1) }, ['scope', 'subjectId']),
    async handler({ params }, ctx) {
      if (!(await ctx.store.proxies.unbind(params.scope, params.subjectId))) throw notFound(`${params.scope} binding`, params.subjectId, 'subjectId');
      await ctx.applied();
      return { object: 'proxy_binding', scope: params.scope, subject_id: params.subjectId, deleted: true };
    },
  },
];
