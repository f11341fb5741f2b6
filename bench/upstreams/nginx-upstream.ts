/**
 * nginx answering every /v1/* request with a fixed 200 JSON body over
 * keep-alive: an upstream cheap enough (~15 µs/request) never to be the
 * bottleneck of a non-streaming throughput run. Requests are counted with
 * stub_status on a second port.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../free-port.ts';
import { waitForHttp, type ProcessGroup } from '../managed-process.ts';
import { cannedCompletion, type Upstream } from './upstream.ts';

/** Where nginx may be: sbin folders are not on every user's PATH. */
export const nginxCandidates = ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx'];

/** Path of the nginx binary, or null when it is not installed. */
export function findNginx(): string | null {
  for (const candidate of nginxCandidates) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return null;
}

/** nginx's single-quoted string syntax: escape backslashes and quotes. */
function nginxString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function config(prefix: string, port: number, statsPort: number): string {
  return `worker_processes 1;
daemon off;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port} reuseport backlog=4096;
    location / {
      default_type application/json;
      return 200 ${nginxString(cannedCompletion)};
    }
  }
  server {
    listen 127.0.0.1:${statsPort};
    location = /__stats { stub_status; }
  }
}
`;
}

/** Starts nginx on the load cores and returns it as an {@link Upstream}. */
export async function startNginxUpstream(group: ProcessGroup, binary: string, cores: string | null): Promise<Upstream> {
  const prefix = mkdtempSync(join(tmpdir(), 'tollgate-bench-nginx-'));
  // Workers drop to an unprivileged user when started as root; let them in.
  chmodSync(prefix, 0o755);
  const port = await freePort();
  const statsPort = await freePort();
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, config(prefix, port, statsPort));
  const managed = group.spawn('nginx upstream', binary, ['-p', prefix, '-c', confPath, '-e', join(prefix, 'error.log')], { cores });
  group.addCleanup(() => rmSync(prefix, { recursive: true, force: true }));
  const statsUrl = `http://127.0.0.1:${statsPort}/__stats`;
  await waitForHttp(statsUrl, 10_000, managed);
  // stub_status counts every request, its own probes included (this one too).
  let probes = 1;
  return {
    kind: 'nginx',
    url: `http://127.0.0.1:${port}`,
    async hits() {
      const text = await (await fetch(statsUrl)).text();
      probes += 1;
      // "server accepts handled requests\n A H R": R is the request count.
      const match = /\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(text);
      if (match === null) throw new Error(`unexpected stub_status answer: ${text}`);
      return Number(match[3]) - probes;
    },
  };
}
