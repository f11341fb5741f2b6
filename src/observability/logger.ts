/**
 * Structured logging with pino: one JSON line per request at info, written
 * through an asynchronous destination so the request never waits on the disk,
 * with secrets redacted from every other log call.
 *
 * The per-request line is serialised here rather than by `logger.info(obj)`.
 * Measured on this machine (Node 24, pino 10, 17-field RequestOutcome):
 * building the line with pino's generic object path costs ~1.9 µs (a key escape
 * and two table look-ups per field; wildcard redact paths add ~30 µs), the
 * fixed template below ~0.5 µs. Including the batched asynchronous write,
 * bench/observability-bench.ts shows ~2-3 µs CPU per line for logRequest
 * against ~8 µs for `logger.info(fields)` into a plain pino.destination. The
 * template uses pino's documented integration symbols (level prefix, time
 * function, child bindings, end of line, stream), so the line is the one pino
 * would write, child bindings included (a test checks they are equal).
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';
import { LogBatcher } from './log-batcher.ts';
import type { RequestOutcome } from './request-outcome.ts';

export interface LoggerOptions {
  /** 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'. */
  level: LevelWithSilent;
  /** File path or file descriptor; default stdout (fd 1). */
  destination?: string | number;
  /** Write synchronously (tests, CLI one-shots). Default false: asynchronous. */
  sync?: boolean;
}

/**
 * Paths censored in any logged object. Explicit paths only: pino's wildcard
 * paths made every object log call ~6x slower in our measurement.
 */
export const REDACT_PATHS: readonly string[] = (() => {
  const secretKeys = ['authorization', 'Authorization', '["x-api-key"]', 'apiKey', 'api_key', 'key', 'secret', 'password', 'token', 'adminToken', 'upstreamKey', 'upstreamApiKey'];
  const parents = ['', 'headers.', 'req.headers.', 'request.headers.', 'res.headers.', 'upstream.', 'channel.', 'config.', 'options.'];
  const out: string[] = [];
  for (const p of parents) {
    for (const k of secretKeys) out.push(k.startsWith('[') ? (p === '' ? k.slice(2, -2) : p.slice(0, -1) + k) : p + k);
  }
  out.push('config.upstreams[*].key', 'config.upstreams[*].apiKey', 'channel.keys[*]', 'upstream.keys[*]');
  return out;
})();

/** Creates the process logger. Build once at start-up and pass it to the stages. */
export function createLogger(opts: LoggerOptions): Logger {
  const sync = opts.sync ?? false;
  // Asynchronous: lines are batched per event-loop turn (log-batcher.ts), then
  // SonicBoom writes them in chunks of >= 4 KiB, at the latest every second (an
  // unref'd timer), so a quiet gateway still logs promptly. minLength > 0 is
  // also what makes SonicBoom's flush(cb) wait for the data to reach the file
  // (with 0 it calls back at once). On exit, pending lines are written
  // synchronously (the batcher's and pino's exit hooks).
  const dest = pino.destination({
    dest: opts.destination ?? 1,
    sync,
    mkdir: true,
    minLength: sync ? 0 : 4096,
    periodicFlush: sync ? 0 : 1000,
  });
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACT_PATHS as string[], censor: '[redacted]' },
    },
    sync ? dest : new LogBatcher(dest),
  );
}

const S = pino.symbols;

interface PinoInternals {
  [S.lsCacheSym]: Record<number, string>;
  [S.timeSym]: () => string;
  [S.chindingsSym]: string;
  [S.endSym]: string;
  [S.streamSym]: { write(s: string): unknown; [k: symbol]: unknown };
  [S.mixinSym]: unknown;
  [S.hooksSym]: { streamWrite?: unknown };
}

const INFO = 30;
/** Characters that never need escaping inside a JSON string. */
const PLAIN = /^[\w.:/@+ -]*$/;

function str(s: string): string {
  return PLAIN.test(s) ? '"' + s + '"' : JSON.stringify(s);
}

function ms(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : -1;
}

/**
 * Writes the one info line for a finished request (msg "request"). A no-op when
 * info is disabled. Only the listed fields are written, whatever else `o` holds.
 */
export function logRequest(logger: Logger, o: RequestOutcome): void {
  if (!logger.isLevelEnabled('info')) return;
  const p = logger as unknown as PinoInternals;
  const stream = p[S.streamSym];
  if (p[S.mixinSym] || p[S.hooksSym].streamWrite || stream[S.needsMetadataGsym] === true) {
    // A logger configured with mixins, hooks or a multistream: let pino do it.
    logger.info(requestFields(o), 'request');
    return;
  }
  stream.write(
    p[S.lsCacheSym][INFO] + p[S.timeSym]() + p[S.chindingsSym] +
      ',"reqId":' + str(o.requestId) +
      ',"route":' + str(o.route) +
      ',"model":' + str(o.model) +
      ',"channel":' + str(o.channel) +
      ',"status":' + (o.status | 0) +
      ',"outcome":' + str(o.outcome) +
      ',"stream":' + (o.stream === true) +
      ',"latencyMs":' + ms(o.latencyMs) +
      ',"upstreamMs":' + ms(o.upstreamMs) +
      ',"ttftMs":' + ms(o.ttftMs) +
      ',"promptTokens":' + (o.promptTokens | 0) +
      ',"completionTokens":' + (o.completionTokens | 0) +
      ',"costMicros":' + (Number.isSafeInteger(o.costMicros) ? o.costMicros : 0) +
      ',"attempts":' + (o.attempts | 0) +
      ',"errorClass":' + (o.errorClass === null ? 'null' : str(o.errorClass)) +
      ',"userId":' + (Number.isSafeInteger(o.userId) ? o.userId : 0) +
      ',"keyId":' + (Number.isSafeInteger(o.keyId) ? o.keyId : 0) +
      ',"msg":"request"' + p[S.endSym],
  );
}

/** How a request-line value is written; each kind bounds what reaches the log whatever the field holds. */
type LineKind = 'string' | 'string-or-null' | 'int32' | 'safe-int' | 'bool' | 'ms';

/**
 * The request line's fields, in order: JSON key, RequestOutcome field, kind.
 * `logRequest` writes them from a hand-written template for speed (see the
 * header); a test checks that its line equals pino's line for `requestFields`,
 * which is built from this table.
 */
export const REQUEST_LINE_FIELDS = [
  { key: 'reqId', field: 'requestId', kind: 'string' },
  { key: 'route', field: 'route', kind: 'string' },
  { key: 'model', field: 'model', kind: 'string' },
  { key: 'channel', field: 'channel', kind: 'string' },
  { key: 'status', field: 'status', kind: 'int32' },
  { key: 'outcome', field: 'outcome', kind: 'string' },
  { key: 'stream', field: 'stream', kind: 'bool' },
  { key: 'latencyMs', field: 'latencyMs', kind: 'ms' },
  { key: 'upstreamMs', field: 'upstreamMs', kind: 'ms' },
  { key: 'ttftMs', field: 'ttftMs', kind: 'ms' },
  { key: 'promptTokens', field: 'promptTokens', kind: 'int32' },
  { key: 'completionTokens', field: 'completionTokens', kind: 'int32' },
  { key: 'costMicros', field: 'costMicros', kind: 'safe-int' },
  { key: 'attempts', field: 'attempts', kind: 'int32' },
  { key: 'errorClass', field: 'errorClass', kind: 'string-or-null' },
  { key: 'userId', field: 'userId', kind: 'safe-int' },
  { key: 'keyId', field: 'keyId', kind: 'safe-int' },
] as const satisfies readonly { key: string; field: keyof RequestOutcome; kind: LineKind }[];

const LINE_VALUE = {
  string: (v) => v,
  'string-or-null': (v) => v,
  int32: (v) => (v as number) | 0,
  'safe-int': (v) => (Number.isSafeInteger(v) ? v : 0),
  bool: (v) => v === true,
  ms: (v) => ms(v as number),
} satisfies Record<LineKind, (v: unknown) => unknown>;

/** The fields of the request line as an object (slow path and tests). */
export function requestFields(o: RequestOutcome): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of REQUEST_LINE_FIELDS) out[f.key] = LINE_VALUE[f.kind](o[f.field]);
  return out;
}

/** fsync errors meaning "this kind of file cannot be synced" (pipes, ttys, /dev/null), not lost data. */
const FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EROFS']);

/**
 * Writes buffered log lines to the destination and resolves once they are
 * written; call on shutdown after the last request. SonicBoom fsyncs after the
 * flush, which fails harmlessly on stdout pipes and /dev/null: that is ignored.
 */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    logger.flush((err) => {
      if (err && !FSYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) reject(err);
      else resolve();
    });
  });
}
