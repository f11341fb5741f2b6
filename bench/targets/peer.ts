/**
 * The peer gateway: Portkey's open-source AI gateway (@portkey-ai/gateway
 * 1.15.2), installed apart in bench/peer with @hono/node-server pinned to
 * 1.14.1 (newer versions break its streaming, Portkey-AI/gateway#1389).
 * Started with --headless on loopback; each request names the upstream through the
 * x-portkey-provider and x-portkey-custom-host headers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../free-port.ts';
import { waitForHttp } from '../managed-process.ts';
import { benchDistDir, peerDir } from '../paths.ts';
import { chatBody, fastModel, noCounters, streamModel, type RunningTarget, type TargetDefinition } from './target.ts';

const packageDir = join(peerDir, 'node_modules', '@portkey-ai', 'gateway');
const entry = join(packageDir, 'build', 'start-server.js');

function installedVersion(name: string): string | null {
  try {
    const manifest = JSON.parse(readFileSync(join(peerDir, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    return manifest.version;
  } catch {
    return null;
  }
}

/** The peer gateway target; skipped with a note when bench/peer is not installed. */
export const peerTarget: TargetDefinition = {
  name: 'peer',
  async start(context): Promise<RunningTarget | string> {
    if (!existsSync(entry)) return 'peer gateway not installed (run `cd bench/peer && npm install --no-package-lock` to add it)';
    const version = installedVersion('@portkey-ai/gateway');
    const hono = installedVersion('@hono/node-server');
    const port = await freePort();
    const loopbackOnly = pathToFileURL(join(benchDistDir, 'targets', 'loopback-listen.js')).href;
    const args = ['--import', loopbackOnly, entry, '--headless', `--port=${port}`];
    const managed = context.group.spawn('peer gateway', process.execPath, args, {
      cores: context.cpus?.targetCores ?? null,
      cwd: peerDir,
      logFile: join(context.workDir, 'peer.log'),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/`, 20_000, managed);
    const headers = (upstream: string): Record<string, string> => ({
      'content-type': 'application/json',
      authorization: 'Bearer sk-up',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `${upstream}/v1`,
    });
    return {
      name: 'peer',
      description: `@portkey-ai/gateway ${version} --headless (@hono/node-server ${hono}), upstream via x-portkey-custom-host`,
      pid: managed.pid,
      chat: { url, path: '/v1/chat/completions', headers: headers(context.fast.url), body: chatBody(fastModel, false) },
      stream: { url, path: '/v1/chat/completions', headers: headers(context.streamUpstream.url), body: chatBody(streamModel, true) },
      account: null,
      redis: null,
      counters: noCounters,
      stop: () => managed.stop(),
    };
  },
};
