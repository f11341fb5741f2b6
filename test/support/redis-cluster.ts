/**
 * A real Redis Cluster for tests: 3 masters and 3 replicas, each a
 * redis-server child process on 127.0.0.1, joined by `redis-cli --cluster
 * create`, as an operator would build one. Nothing is written to disk beyond
 * each node's nodes.conf in a temporary directory, removed at stop.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why cluster tests are skipped on this machine, or false when they can run. */
export const NO_CLUSTER: string | false =
  spawnSync('redis-server', ['--version']).error !== undefined || spawnSync('redis-cli', ['--version']).error !== undefined
    ? 'redis-server or redis-cli is not installed'
    : false;

export interface ClusterNode {
  port: number;
  process: ChildProcess;
}

export interface RedisClusterFixture {
  /** Every node, masters first as created (roles change after a failover). */
  nodes: ClusterNode[];
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...` — the REDIS_URL form Tollgate accepts. */
  url: string;
  /** Runs redis-cli against one node and returns its stdout. */
  cli(port: number, ...args: string[]): string;
  /** Ports of the nodes that are masters now. */
  masters(): number[];
  /** Kills one node (SIGKILL) and waits until its process has exited. */
  kill(port: number): Promise<void>;
  /** Waits until the cluster serves every slot again without the killed node (a replica took over). */
  recovered(killedPort: number): Promise<void>;
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port whose cluster bus port (port + 10,000) is free as well. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRedisCluster(opts: { masters?: number; replicasPerMaster?: number } = {}): Promise<RedisClusterFixture> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-cluster-'));
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  const cli = (port: number, ...args: string[]): string => {
    const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const alive = () => nodes.filter((n) => n.process.exitCode === null && n.process.signalCode === null);

  for (let i = 0; i < masters * (1 + replicas); i++) {
    const port = await clusterPort(taken);
    const proc = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      // A failed master is replaced within about a second, so a failover test stays short.
      // A replica may take over however long its link was down, and syncs at once: a test
      // that kills a master right after start still gets a failover.
      '--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0', '--repl-diskless-sync-delay', '0', '--dir', dir,
    ], { stdio: 'ignore' });
    nodes.push({ port, process: proc });
  }
  for (const n of nodes) {
    for (let tries = 0; ; tries++) {
      try {
        if (cli(n.port, 'PING').trim() === 'PONG') break;
      } catch { /* not up yet */ }
      if (tries > 100) throw new Error(`redis-server on ${n.port} did not start`);
      await sleep(50);
    }
  }
  cli(nodes[0].port, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes');

  const healthy = async (without: number | null): Promise<void> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const live = alive().filter((n) => n.port !== without);
      const ok = live.every((n) => {
        try {
          const serving = masterPorts(n.port);
          return cli(n.port, 'CLUSTER', 'INFO').includes('cluster_state:ok') && serving.length === masters && !serving.includes(without ?? -1);
        } catch {
          return false;
        }
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error('the cluster did not become healthy');
      await sleep(100);
    }
  };
  // Masters that serve slots, as one node sees them (a failed one is flagged 'fail' and loses its slots).
  const masterPorts = (port: number): number[] =>
    cli(port, 'CLUSTER', 'NODES').split('\n')
      .filter((l) => l.includes('master') && !l.includes('fail') && / \d+-\d+/.test(l))
      .map((l) => Number(l.split(' ')[1].split('@')[0].split(':')[1]));
  await healthy(null);
  // Replicas have made their first sync (so a failover has data to promote).
  for (const n of nodes) {
    for (let tries = 0; ; tries++) {
      const info = cli(n.port, 'INFO', 'replication');
      if (info.includes('role:master') || info.includes('master_link_status:up')) break;
      if (tries > 200) throw new Error(`replica on ${n.port} did not sync`);
      await sleep(50);
    }
  }

  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    cli,
    masters: () => masterPorts(alive()[0].port),
    async kill(port) {
      const node = nodes.find((n) => n.port === port);
      if (node === undefined) throw new Error(`no node on ${port}`);
      node.process.kill('SIGKILL');
      await new Promise((r) => (node.process.exitCode !== null || node.process.signalCode !== null ? r(null) : node.process.once('exit', r)));
    },
    recovered: (port) => healthy(port),
    async stop() {
      for (const n of nodes) n.process.kill('SIGKILL');
      await Promise.all(nodes.map((n) => new Promise((r) => (n.process.exitCode !== null || n.process.signalCode !== null ? r(null) : n.process.once('exit', r)))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
