/**
 * The 'hop' scenario's two targets, each a pair of processes in series on the
 * target core, in front of the fast upstream:
 *
 * - tollgate-hop: an egress Tollgate node forwarding service `api` (marked
 *   remote) through the secure hop (the default multiplexed connection and lz4 compression, AES-256-GCM frames)
 *   to an ingress node, which checks the caller's rule (with RPM and
 *   concurrency limits set too high to refuse) and relays to the upstream.
 *   Both configured as an operator would: tollgate.yaml `services:` and the
 *   CLI (`service add`, `service allow`, `link-key generate`).
 *   tollgate-hop-zstd, tollgate-hop-nozip and tollgate-hop-http are the same
 *   with `hop.compression: zstd` or `none`, or `hop.transport: http`: what
 *   each choice costs, in the same run.
 * - passthrough-pair: two bare Node passthroughs (bench/baseline-proxy.ts)
 *   chained, the floor for any two Node hops.
 *
 * CPU per request is the sum of both processes; both carry the allocation
 * probe (bench/alloc-probe-preload.ts), read around each run as a counter.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { allocProbeFileEnv, allocProbeNodeArgs, readAllocProbe } from '../alloc-probe.ts';
import { freePort } from '../free-port.ts';
import { waitForHttp, type ManagedProcess } from '../managed-process.ts';
import { benchDistDir, tollgateCli } from '../paths.ts';
import { fastModel, type RunningTarget, type TargetContext, type TargetDefinition } from './target.ts';
import { cleanEnv, cli, parseKey } from './tollgate.ts';

/**
 * A chat request of about 2 KiB: over the hop's compressMinBytes (1 KiB), so
 * the request body is compressed as well as encrypted (the upstream's short
 * answer is only encrypted).
 */
export function hopBody(): string {
  const content = 'Summarise the benchmark notes below in one line. '.repeat(40);
  return JSON.stringify({ model: fastModel, messages: [{ role: 'user', content }], max_tokens: 64 });
}

/** The allocation counters of a pair: V8 heap bytes allocated by both processes so far. */
function allocCounters(processes: ReadonlyArray<{ pid: number; file: string }>): () => Promise<Record<string, number>> {
  return async () => {
    let total = 0;
    for (const p of processes) total += await readAllocProbe(p.pid, p.file);
    return { heapAllocBytes: total };
  };
}

function stopAll(processes: ManagedProcess[]): () => Promise<void> {
  return async () => {
    for (const p of processes) await p.stop();
  };
}

/** Two bare Node passthroughs in series. */
export const passthroughPairTarget: TargetDefinition = {
  name: 'passthrough-pair',
  async start(context): Promise<RunningTarget> {
    const dir = join(context.workDir, 'passthrough-pair');
    mkdirSync(dir, { recursive: true });
    const entry = join(benchDistDir, 'baseline-proxy.js');
    const startOne = async (name: string, upstream: string): Promise<{ managed: ManagedProcess; url: string; file: string }> => {
      const file = join(dir, `${name}-alloc.json`);
      const managed = context.group.spawn(`passthrough-pair ${name}`, process.execPath, [...allocProbeNodeArgs, entry, '--upstream', upstream], {
        cores: context.cpus?.targetCores ?? null,
        env: { ...process.env, [allocProbeFileEnv]: file },
      });
      const line = await managed.waitForLine(/^BENCH_BASELINE /, 15_000);
      const { port } = JSON.parse(line.slice('BENCH_BASELINE '.length)) as { port: number };
      return { managed, url: `http://127.0.0.1:${port}`, file };
    };
    const second = await startOne('second', context.fast.url);
    const first = await startOne('first', second.url);
    const shape = { url: first.url, path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-up' }, body: hopBody() };
    return {
      name: 'passthrough-pair',
      description: 'two bare Node passthroughs in series (bench/baseline-proxy.ts → bench/baseline-proxy.ts), both on the target core',
      pid: first.managed.pid,
      extraPids: [second.managed.pid],
      chat: shape,
      stream: shape,
      hop: shape,
      account: null,
      onlyScenarios: ['hop'],
      redis: null,
      counters: allocCounters([{ pid: first.managed.pid, file: first.file }, { pid: second.managed.pid, file: second.file }]),
      stop: stopAll([first.managed, second.managed]),
    };
  },
};

/** The hop settings of both nodes: the defaults, or one of them changed. */
type HopVariant = 'default' | 'zstd' | 'none' | 'http';
const hopTargetNames: Record<HopVariant, string> = { default: 'tollgate-hop', zstd: 'tollgate-hop-zstd', none: 'tollgate-hop-nozip', http: 'tollgate-hop-http' };
const hopSettings: Record<HopVariant, Record<string, string>> = { default: {}, zstd: { compression: 'zstd' }, none: { compression: 'none' }, http: { transport: 'http' } };
const variantText: Record<HopVariant, string> = {
  default: 'multiplexed connection, lz4-compressed request body',
  zstd: 'multiplexed connection, zstd level 1 request body',
  none: 'multiplexed connection, no compression',
  http: 'one HTTP request per call instead of the multiplexed connection, lz4 request body',
};

/** One Tollgate node of the pair: its data dir, config file, env and port. */
async function prepareNode(context: TargetContext, target: string, name: string, services: Record<string, unknown>): Promise<{ dir: string; env: NodeJS.ProcessEnv; url: string }> {
  const dir = join(context.workDir, target, name);
  mkdirSync(dir, { recursive: true });
  // Read from the working directory by `serve` and by every CLI command run there.
  writeFileSync(join(dir, 'tollgate.yaml'), stringify({ services }));
  const port = await freePort();
  const env = cleanEnv();
  Object.assign(env, {
    TOLLGATE_HOST: '127.0.0.1',
    TOLLGATE_PORT: String(port),
    TOLLGATE_DATA_DIR: dir,
    TOLLGATE_LOG_LEVEL: 'info',
    TOLLGATE_MOCK_CHANNEL: 'false',
    // One event loop per node, as before `serve --workers` (the default is now one per core).
    TOLLGATE_WORKERS: '1',
    [allocProbeFileEnv]: join(dir, 'alloc.json'),
  });
  return { dir, env, url: `http://127.0.0.1:${port}` };
}

/**
 * Egress → ingress, the secure hop; `compression` as in `services.hop.compression`.
 * `reference`: run another built checkout's CLI instead (before/after in one run).
 */
export function tollgateHopTarget(variant: HopVariant, reference: { name: string; cli: string } | null = null): TargetDefinition {
  const name = reference?.name ?? hopTargetNames[variant];
  const cliPath = reference?.cli ?? tollgateCli;
  return {
    name,
    async start(context): Promise<RunningTarget | string> {
      const run = (node: { dir: string; env: NodeJS.ProcessEnv }, args: string[]): Promise<string> => cli(cliPath, node.env, node.dir, args);
      const scratch = { dir: context.workDir, env: cleanEnv() };
      const link = JSON.parse(await run(scratch, ['link-key', 'generate', '--json'])) as { id: string; key: string };
      // 'default': the node's own defaults (for the ref target, what the reference checkout had).
      const hop = hopSettings[variant];
      const ingress = await prepareNode(context, name, 'ingress', { hop, ingress: { linkKeys: [link] } });
      const egress = await prepareNode(context, name, 'egress', { hop, egress: { ingressUrl: ingress.url, linkKeyId: link.id, linkKey: link.key } });
      // The same caller on both nodes: the ingress trusts the user id the egress authenticated.
      for (const node of [ingress, egress]) await run(node, ['user', 'create', '--name', 'bench']);
      const { key } = parseKey(await run(egress, ['key', 'create', '--user', 'bench', '--json']));
      await run(egress, ['service', 'add', 'api', '--remote']);
      await run(ingress, ['service', 'add', 'api', '--target', context.fast.url]);
      await run(ingress, ['service', 'allow', 'api', '--caller', 'bench', '--path', '/v1/**', '--methods', 'POST', '--rpm', '100000000', '--concurrency', '10000']);
      const processes: ManagedProcess[] = [];
      for (const [role, node] of [['ingress', ingress], ['egress', egress]] as const) {
        // --cpu-prof: V8 writes each node's profile when it exits (serve exits on SIGTERM).
        const profileArgs = context.cpuProfDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(context.cpuProfDir, name, role)}`];
        const managed = context.group.spawn(`${name} ${role}`, process.execPath, [...allocProbeNodeArgs, ...profileArgs, cliPath, 'serve'], {
          cores: context.cpus?.targetCores ?? null,
          env: node.env,
          cwd: node.dir,
          logFile: join(node.dir, 'tollgate.log'),
        });
        processes.push(managed);
        await waitForHttp(`${node.url}/readyz`, 30_000, managed);
      }
      const [ingressProcess, egressProcess] = processes;
      const shape = { url: egress.url, path: '/svc/api/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: hopBody() };
      return {
        name,
        description: `${reference === null ? '' : `another checkout (${cliPath}): `}Tollgate egress → ingress over the secure hop (${reference === null ? variantText[variant] : 'its default hop settings'}, AES-256-GCM frames both ways), caller rule with RPM + concurrency limits, call records and metrics on both nodes; both on the target core`,
        pid: egressProcess.pid,
        extraPids: [ingressProcess.pid],
        chat: shape,
        stream: shape,
        hop: shape,
        account: null,
        onlyScenarios: ['hop'],
        redis: null,
        counters: allocCounters([{ pid: egressProcess.pid, file: egress.env[allocProbeFileEnv]! }, { pid: ingressProcess.pid, file: ingress.env[allocProbeFileEnv]! }]),
        stop: stopAll([egressProcess, ingressProcess]),
      };
    },
  };
}
