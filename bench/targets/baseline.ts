/** The baseline: bench/baseline-proxy.ts (node:http + undici pool, bytes piped) on the target core. */
import { join } from 'node:path';
import { loopProbeFileEnv, loopProbeNodeArgs } from '../loop-probe.ts';
import { benchDistDir } from '../paths.ts';
import { chatBody, fastModel, noCounters, streamModel, type RunningTarget, type TargetDefinition } from './target.ts';

/** The bare Node passthrough target. */
export const baselineTarget: TargetDefinition = {
  name: 'baseline',
  async start(context): Promise<RunningTarget> {
    const entry = join(benchDistDir, 'baseline-proxy.js');
    const args = [...loopProbeNodeArgs, entry, '--upstream', context.fast.url, '--stream-upstream', context.streamUpstream.url];
    const loopProbeFile = join(context.workDir, 'baseline-loop-probe.json');
    const env = { ...process.env, [loopProbeFileEnv]: loopProbeFile };
    const managed = context.group.spawn('baseline', process.execPath, args, { cores: context.cpus?.targetCores ?? null, env });
    const line = await managed.waitForLine(/^BENCH_BASELINE /, 15_000);
    const { port } = JSON.parse(line.slice('BENCH_BASELINE '.length)) as { port: number };
    const url = `http://127.0.0.1:${port}`;
    const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-up' };
    return {
      name: 'baseline',
      description: 'bare Node passthrough: node:http + undici Pool, bytes piped, no parsing (bench/baseline-proxy.ts)',
      pid: managed.pid,
      chat: { url, path: '/v1/chat/completions', headers, body: chatBody(fastModel, false) },
      // Nothing to cache in a passthrough: the floor a cache hit is compared with.
      cached: { shape: { url, path: '/v1/chat/completions', headers, body: chatBody(fastModel, false) }, fromCache: false },
      stream: {
        url,
        path: '/v1/chat/completions',
        headers: { ...headers, 'x-bench-upstream': 'stream' },
        body: chatBody(streamModel, true),
      },
      account: null,
      redis: null,
      counters: noCounters,
      loopProbeFile,
      stop: () => managed.stop(),
    };
  },
};
