/** Direct: the load straight at the upstreams, no proxy. The reference for latency and TTFT. */
import { chatBody, fastModel, noCounters, streamModel, type RunningTarget, type TargetDefinition } from './target.ts';

const json = { 'content-type': 'application/json', authorization: 'Bearer sk-up' };

/** The direct target (nothing to start, nothing to measure CPU of). */
export const directTarget: TargetDefinition = {
  name: 'direct',
  async start(context): Promise<RunningTarget> {
    return {
      name: 'direct',
      description: `no proxy: ${context.fast.kind} for non-streaming, the mock provider for streams`,
      pid: null,
      chat: { url: context.fast.url, path: '/v1/chat/completions', headers: json, body: chatBody(fastModel, false) },
      stream: { url: context.streamUpstream.url, path: '/v1/chat/completions', headers: json, body: chatBody(streamModel, true) },
      account: null,
      redis: null,
      counters: noCounters,
      async stop() {},
    };
  },
};
