/**
 * wrk as the load generator: a C event loop that saturates a Node server from
 * one core. A generated Lua script sets the request (or cycles a sequence) and
 * prints the summary with latency percentiles as JSON from wrk's done().
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessGroup } from '../managed-process.ts';
import type { LoadRequest, LoadResult, LoadSpec } from './load-types.ts';

/** Whether the wrk binary is installed. */
export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version prints its banner and exits 1: a non-ENOENT failure means it exists.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** A Lua long string that cannot be closed by the text inside it. */
function luaString(text: string): string {
  let level = '';
  while (text.includes(`]${level}]`)) level += '=';
  return `[${level}[${text}]${level}]`;
}

function luaHeaders(headers: Record<string, string>): string {
  const entries = Object.entries(headers).map(([name, value]) => `[ ${luaString(name)} ] = ${luaString(value)}`);
  return `{ ${entries.join(', ')} }`;
}

function luaRequest(request: LoadRequest): string {
  const body = request.body === null ? 'nil' : luaString(request.body);
  return `wrk.format(${luaString(request.method)}, ${luaString(request.path)}, ${luaHeaders(request.headers)}, ${body})`;
}

const doneFunction = `
function done(summary, latency, requests)
  local sent_up = 0
  for _, t in ipairs(threads) do sent_up = sent_up + (t:get("sent_up") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"sent_up":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), sent_up))
end
`;

/**
 * The script: a single request is set statically (no Lua call per request);
 * a sequence is cycled by request(), counting upstream-bound requests sent.
 */
export function wrkScript(sequence: LoadRequest[]): string {
  const setup = 'threads = {}\nfunction setup(thread) table.insert(threads, thread) end\n';
  if (sequence.length === 1) {
    const only = sequence[0];
    const body = only.body === null ? '' : `wrk.body = ${luaString(only.body)}\n`;
    const headers = Object.entries(only.headers).map(([name, value]) => `wrk.headers[ ${luaString(name)} ] = ${luaString(value)}\n`).join('');
    return `${setup}wrk.method = ${luaString(only.method)}\nwrk.path = ${luaString(only.path)}\n${headers}${body}${doneFunction}`;
  }
  const requests = sequence.map(luaRequest).join(',\n  ');
  const bound = sequence.map((request) => String(request.upstreamBound)).join(', ');
  return `${setup}
local requests, bound, i = nil, { ${bound} }, 0
sent_up = 0
function init(args)
  requests = {
  ${requests}
  }
end
function request()
  i = i + 1
  if i > #requests then i = 1 end
  if bound[i] then sent_up = sent_up + 1 end
  return requests[i]
end
${doneFunction}`;
}

interface WrkSummary {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  sent_up: number;
}

let scripts = 0;

/**
 * Runs wrk for `spec.durationS` seconds (wrk cannot stop at a count), as a
 * process of the bench's group; its script goes to `workDir`.
 */
export async function runWrk(spec: LoadSpec, threads: number, group: ProcessGroup, workDir: string): Promise<LoadResult> {
  const scriptPath = join(workDir, `wrk-${++scripts}.lua`);
  writeFileSync(scriptPath, wrkScript(spec.sequence));
  const args = [
    `-t${Math.max(1, Math.min(threads, spec.connections))}`,
    `-c${spec.connections}`,
    `-d${Math.max(1, Math.round(spec.durationS))}s`,
    `--timeout`,
    `${spec.timeoutS}s`,
    '-s',
    scriptPath,
    spec.url,
  ];
  // The load generator runs where this harness runs (pinned to the load cores).
  const wrk = group.spawn('wrk', 'wrk', args, { cores: null });
  try {
    const line = await wrk.waitForLine(/^BENCH_WRK /, (spec.durationS + spec.timeoutS + 15) * 1000);
    const summary = JSON.parse(line.slice('BENCH_WRK '.length)) as WrkSummary;
    const durationS = summary.duration_us / 1e6;
    const upstreamBoundAll = spec.sequence.every((request) => request.upstreamBound);
    // Each connection has at most one request in flight when wrk stops.
    const expected = upstreamBoundAll
      ? { min: summary.requests, max: summary.requests + spec.connections }
      : { min: Math.max(0, summary.sent_up - spec.connections), max: summary.sent_up };
    return {
      tool: 'wrk',
      requests: summary.requests,
      durationS,
      requestsPerS: summary.requests / durationS,
      latencyP50Ms: summary.p50_us / 1000,
      latencyP99Ms: summary.p99_us / 1000,
      errors: summary.connect + summary.read + summary.write + summary.timeout,
      non2xx: summary.status,
      expectedUpstreamHits: expected,
    };
  } finally {
    await wrk.stop();
  }
}
