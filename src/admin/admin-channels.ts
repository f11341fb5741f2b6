/**
 * Admin routes for upstream channels and their upstream keys: add, update,
 * enable/disable, list with this node's health and cooldown state. Every
 * mutation rebuilds this node's route table before answering, so the next
 * request is routed by it.
 */
import type { ChannelFull, ChannelModel, ChannelType } from '../store/store.ts';
import { checkUpstreamUrl } from '../routing/upstream-address-policy.ts';
import { badInput, bool, idParams, int, listOf, notFound, nullableInt, object, ref, str, type AdminContext, type AdminRoute, type JsonSchema } from './admin-schema.ts';
import { channelKeyView, channelView, coolingIndex } from './admin-views.ts';

const TYPES: ChannelType[] = ['openai', 'openai-compatible', 'anthropic', 'mock'];
const CHANNEL = ref('Channel');

const modelsSchema: JsonSchema = {
  type: 'array',
  minItems: 1,
  maxItems: 1000,
  description: 'client-facing model names; an object renames the model upstream',
  items: {
    anyOf: [
      str(200),
      object({ model: str(200), upstream_model: str(200) }, ['model']),
    ],
  },
};

const channelFields = {
  name: str(200, 'unique channel name'),
  base_url: str(2000, 'e.g. https://api.openai.com/v1'),
  weight: int(0, 1_000_000, 'weighted round-robin share within its priority'),
  priority: int(-1_000_000, 1_000_000, 'higher is tried first'),
  first_token_timeout_ms: { ...nullableInt(1, 'streamed requests with no first byte from this channel within this many ms fail over to the next channel; null: no limit'), maximum: 600_000 },
};

/** The base URL if the SSRF policy allows it (see upstream-address-policy.ts), else a 400 naming base_url. */
function baseUrl(ctx: AdminContext, value: string): string {
  const verdict = checkUpstreamUrl(value, ctx.gw.config.upstream);
  if (!verdict.ok) throw badInput('base_url', `Invalid request body: 'base_url' is refused: ${verdict.message}.`);
  return value;
}

function models(list: Array<string | { model: string; upstream_model?: string }>): ChannelModel[] {
  return list.map((m) => (typeof m === 'string' ? { model: m, upstreamModel: m } : { model: m.model, upstreamModel: m.upstream_model ?? m.model }));
}

async function channelOr404(ctx: AdminContext, id: number): Promise<ChannelFull> {
  const channel = (await ctx.store.channels.listFull()).find((c) => c.id === id);
  if (channel === undefined) throw notFound('channel', id);
  return channel;
}

const view = async (ctx: AdminContext, id: number) => channelView(await channelOr404(ctx, id), ctx.gw, coolingIndex(ctx.gw, Date.now()));

async function setEnabled(ctx: AdminContext, id: number, enabled: boolean) {
  if (!(await ctx.store.channels.setEnabled(id, enabled))) throw notFound('channel', id);
  await ctx.applied();
  return view(ctx, id);
}

/** Channels and their upstream keys. */
export const CHANNEL_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST', url: '/admin/channels', operationId: 'createChannel', tag: 'channels', status: 201, response: CHANNEL,
    summary: 'Add an upstream channel with its models and, optionally, upstream keys',
    body: object({
      ...channelFields,
      type: { type: 'string', enum: TYPES, default: 'openai', description: 'openai: any OpenAI-compatible API' },
      models: modelsSchema,
      keys: { type: 'array', maxItems: 100, items: str(1000), description: 'upstream API keys' },
    }, ['name', 'base_url', 'models']),
    async handler({ body }, ctx) {
      const channel = await ctx.store.channels.add({ name: body.name, type: body.type, baseUrl: baseUrl(ctx, body.base_url), weight: body.weight, priority: body.priority, firstTokenTimeoutMs: body.first_token_timeout_ms, models: models(body.models) });
      for (const secret of (body.keys ?? []) as string[]) await ctx.store.channels.addKey(channel.id, secret);
      await ctx.applied();
      return view(ctx, channel.id);
    },
  },
  {
    method: 'GET', url: '/admin/channels', operationId: 'listChannels', tag: 'channels', status: 200, response: listOf(CHANNEL),
    summary: "List channels with their models, upstream keys (hints only) and this node's health and cooldowns",
    querystring: object({ name: str(200, 'exact name'), enabled: bool() }),
    async handler({ query }, ctx) {
      const cooling = coolingIndex(ctx.gw, Date.now());
      let list = await ctx.store.channels.listFull();
      if (query.name !== undefined) list = list.filter((c) => c.name === query.name);
      if (query.enabled !== undefined) list = list.filter((c) => c.enabled === query.enabled);
      return { object: 'list', data: list.map((c) => channelView(c, ctx.gw, cooling)) };
    },
  },
  {
    method: 'GET', url: '/admin/channels/:id', operationId: 'getChannel', tag: 'channels', status: 200, response: CHANNEL, notFound: true,
    summary: 'Get a channel with health', params: idParams(),
    handler: ({ params }, ctx) => view(ctx, params.id),
  },
  {
    method: 'PATCH', url: '/admin/channels/:id', operationId: 'updateChannel', tag: 'channels', status: 200, response: CHANNEL, notFound: true,
    summary: 'Change a channel; `models` replaces the whole list', params: idParams(),
    body: object({ ...channelFields, enabled: bool(), models: modelsSchema }, [], { minProperties: 1 }),
    async handler({ params, body }, ctx) {
      const { enabled, ...rest } = body;
      if (Object.keys(rest).length > 0) {
        await ctx.store.channels.update(params.id, {
          name: rest.name,
          baseUrl: rest.base_url === undefined ? undefined : baseUrl(ctx, rest.base_url),
          weight: rest.weight,
          priority: rest.priority,
          firstTokenTimeoutMs: rest.first_token_timeout_ms,
          models: rest.models === undefined ? undefined : models(rest.models),
        });
      }
      if (enabled !== undefined) return setEnabled(ctx, params.id, enabled);
      await ctx.applied();
      return view(ctx, params.id);
    },
  },
  {
    method: 'POST', url: '/admin/channels/:id/disable', operationId: 'disableChannel', tag: 'channels', status: 200, response: CHANNEL, notFound: true,
    summary: 'Disable a channel: it gets no new requests from the next one on', params: idParams(),
    handler: ({ params }, ctx) => setEnabled(ctx, params.id, false),
  },
  {
    method: 'POST', url: '/admin/channels/:id/enable', operationId: 'enableChannel', tag: 'channels', status: 200, response: CHANNEL, notFound: true,
    summary: 'Re-enable a channel', params: idParams(),
    handler: ({ params }, ctx) => setEnabled(ctx, params.id, true),
  },
  {
    method: 'POST', url: '/admin/channels/:id/keys', operationId: 'addChannelKey', tag: 'channels', status: 201, response: ref('ChannelKey'), notFound: true,
    summary: 'Add an upstream API key to a channel', params: idParams(),
    body: object({ secret: str(1000, 'the upstream API key') }, ['secret']),
    async handler({ params, body }, ctx) {
      const key = await ctx.store.channels.addKey(params.id, body.secret);
      await ctx.applied();
      return channelKeyView(key, coolingIndex(ctx.gw, Date.now()));
    },
  },
  {
    method: 'PATCH', url: '/admin/channels/:id/keys/:keyId', operationId: 'updateChannelKey', tag: 'channels', status: 200, response: ref('ChannelKey'), notFound: true,
    summary: 'Enable or disable one upstream key', params: idParams('id', 'keyId'),
    body: object({ enabled: bool() }, ['enabled']),
    async handler({ params, body }, ctx) {
      const channel = await channelOr404(ctx, params.id);
      if (!channel.keys.some((k) => k.id === params.keyId)) throw notFound(`upstream key in channel ${params.id}`, params.keyId, 'keyId');
      await ctx.store.channels.setKeyEnabled(params.keyId, body.enabled);
      await ctx.applied();
      const key = (await channelOr404(ctx, params.id)).keys.find((k) => k.id === params.keyId)!;
      return channelKeyView(key, coolingIndex(ctx.gw, Date.now()));
    },
  },
];
