/**
 * The provider registry, fixed at start-up: channel type → Provider, and
 * protocol → Dialect. The route table asks it which protocols a channel
 * serves and how its keys authenticate; a request context takes the dialect
 * of its endpoint's protocol once, at arrival.
 */
import type { ChannelType } from '../store/channel-repo.ts';
import type { Protocol } from '../edge/endpoints.ts';
import type { Dialect, Provider } from './provider.ts';
import { openaiCompatibleProvider, openaiDialect, openaiProvider } from './openai/openai.ts';
import { responsesDialect } from './openai/responses.ts';
import { anthropicDialect, anthropicProvider } from './anthropic/anthropic.ts';
import { mockProvider } from './mock/mock.ts';

export type { AuthHeader, Dialect, Provider, StreamEvents } from './provider.ts';

const PROVIDERS: ReadonlyMap<ChannelType, Provider> = new Map([openaiProvider, openaiCompatibleProvider, anthropicProvider, mockProvider].map((p) => [p.type, p]));
const DIALECTS: { readonly [P in Protocol]: Dialect } = { openai: openaiDialect, responses: responsesDialect, anthropic: anthropicDialect };

/** The provider of a channel type; throws on a type the store should never have let in. */
export function providerFor(type: ChannelType): Provider {
  const provider = PROVIDERS.get(type);
  if (provider === undefined) throw new Error(`Unknown channel type '${type}'`);
  return provider;
}

/** The dialect of a protocol. */
export function dialectFor(protocol: Protocol): Dialect {
  return DIALECTS[protocol];
}
