/**
 * On-demand profiling, off by default, on its own port bound to loopback and
 * guarded by the admin token:
 *
 *   GET /debug/pprof/profile?seconds=N  CPU profile (.cpuprofile JSON, loadable in
 *                                       Chrome DevTools / VS Code), N in 1..60, default 10
 *   GET /debug/pprof/heap               heap snapshot (.heapsnapshot), streamed
 *   GET /debug/pprof/stats              memory, V8 heap and heap-space statistics,
 *                                       GC counts and durations since the server started
 *
 * Both the CPU profile and the heap snapshot pause or slow the process: that is
 * why this is a separate server the operator enables and reaches through an
 * SSH tunnel, not a route on the public port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Session } from 'node:inspector/promises';
import { constants as perfConstants, PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import v8 from 'node:v8';
import { adminTokenMatches } from '../admin/admin-token.ts';

export interface ProfilingServerOptions {
  /** Interface to bind; keep the default. */
  host?: string;
  /** Port; 0 picks a free one (tests). */
  port: number;
  /** Required; requests must send `Authorization: Bearer <adminToken>`. */
  adminToken: string;
}

export interface ProfilingServer {
  /** e.g. http://127.0.0.1:6061 */
  url: string;
  close(): Promise<void>;
}

export const MAX_PROFILE_SECONDS = 60;
const DEFAULT_PROFILE_SECONDS = 10;

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** GC pauses seen by a PerformanceObserver, by kind. */
class GcStats {
  readonly byKind: Record<string, { count: number; totalMs: number; maxMs: number }> = {};
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.add(e);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  private add(e: PerformanceEntry): void {
    const detail = (e as PerformanceEntry & { detail?: { kind?: number } }).detail;
    const kind = GC_KINDS[detail?.kind ?? -1] ?? 'other';
    const s = (this.byKind[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    s.count++;
    s.totalMs += e.duration;
    if (e.duration > s.maxMs) s.maxMs = e.duration;
  }

  stop(): void {
    this.observer.disconnect();
  }
}

/** Starts the profiling server. Throws when the admin token is empty. */
export async function startProfilingServer(opts: ProfilingServerOptions): Promise<ProfilingServer> {
  if (!opts.adminToken) throw new Error('profiling server needs a non-empty admin token');
  const host = opts.host ?? '127.0.0.1';
  const gc = new GcStats();
  const startedAt = new Date();
  const state = { profiling: false, sessions: new Set<Session>() };

  const server = createServer((req, res) => {
    handle(req, res, opts.adminToken, gc, startedAt, state).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String((err as Error)?.message ?? err) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}`,
    async close() {
      gc.stop();
      for (const s of state.sessions) s.disconnect();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  token: string,
  gc: GcStats,
  startedAt: Date,
  state: { profiling: boolean; sessions: Set<Session> },
): Promise<void> {
  if (!adminTokenMatches(req.headers.authorization, token)) {
    res.setHeader('www-authenticate', 'Bearer');
    sendJson(res, 401, { error: 'admin token required' });
    return;
  }
  if (req.method !== 'GET') {
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  switch (url.pathname) {
    case '/debug/pprof/profile':
      return cpuProfile(req, res, url, state);
    case '/debug/pprof/heap':
      return heapSnapshot(res);
    case '/debug/pprof/stats':
      sendJson(res, 200, processStats(gc, startedAt));
      return;
    default:
      sendJson(res, 404, { error: 'not found' });
  }
}

async function cpuProfile(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  state: { profiling: boolean; sessions: Set<Session> },
): Promise<void> {
  const raw = url.searchParams.get('seconds');
  const seconds = raw === null ? DEFAULT_PROFILE_SECONDS : Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PROFILE_SECONDS) {
    sendJson(res, 400, { error: `seconds must be an integer in 1..${MAX_PROFILE_SECONDS}` });
    return;
  }
  if (state.profiling) {
    sendJson(res, 409, { error: 'a CPU profile is already running' });
    return;
  }
  state.profiling = true;
  const session = new Session();
  state.sessions.add(session);
  try {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    // Stop early when the client goes away: nobody would receive the profile.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, seconds * 1000);
      function done(): void {
        clearTimeout(timer);
        req.socket.off('close', done);
        resolve();
      }
      req.socket.once('close', done);
    });
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.disable');
    if (res.destroyed) return;
    const body = JSON.stringify(profile);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-disposition': `attachment; filename="cpu-${process.pid}-${Date.now()}.cpuprofile"`,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  } finally {
    state.profiling = false;
    state.sessions.delete(session);
    session.disconnect();
  }
}

/**
 * Streams a heap snapshot. v8.getHeapSnapshot() is the same V8
 * HeapProfiler.takeHeapSnapshot the inspector protocol exposes, but as a
 * Readable, so the response gets backpressure instead of buffering every chunk.
 */
async function heapSnapshot(res: ServerResponse): Promise<void> {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-disposition': `attachment; filename="heap-${process.pid}-${Date.now()}.heapsnapshot"`,
  });
  await pipeline(v8.getHeapSnapshot(), res);
}

function processStats(gc: GcStats, startedAt: Date): Record<string, unknown> {
  return {
    pid: process.pid,
    uptimeSeconds: process.uptime(),
    memory: process.memoryUsage(),
    heap: v8.getHeapStatistics(),
    heapSpaces: v8.getHeapSpaceStatistics(),
    eventLoopUtilization: performance.eventLoopUtilization().utilization,
    gc: { since: startedAt.toISOString(), byKind: gc.byKind },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}
