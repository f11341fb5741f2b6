/**
 * Command-line entry of the mock upstream, runnable on its own
 * (`node dist/src/mock/main.js --port 9100`) or through `tollgate mock`.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const USAGE = `Usage: tollgate mock [options]

Runs a mock OpenAI/Anthropic-compatible upstream (deterministic content, fault injection).

Options:
  --host <addr>           interface to bind (default 127.0.0.1)
  --port <n>              port, 0 for any free one (default 9100)
  --chunks <n>            content chunks per SSE stream (default 8)
  --chunk-delay-ms <ms>   pause between content chunks (default 0)
  --latency-ms <ms>       pause before response headers (default 0)
  -h, --help              show this help

Per request: header x-mock-fault (500, 429, reset, reset-mid-stream:3, hang, latency:200),
x-mock-chunks, x-mock-chunk-delay-ms; or an API key containing fault-500, fault-429,
fault-401, fault-reset or fault-hang. Usage: x-mock-cached-tokens, x-mock-cache-write-tokens,
x-mock-reasoning-tokens. Speaks /v1/chat/completions, /v1/responses and /v1/messages; calls
the first offered tool, answers JSON for a json_schema format, honours stop sequences.
`;

/**
 * Parses the mock's flags, starts it, prints `mock upstream listening on <url>` and
 * closes it then exits on SIGTERM/SIGINT. Prints usage and exits on `--help`;
 * rejects with a message naming the flag on bad input.
 */
export async function runMockFromArgv(argv: string[]): Promise<MockUpstream> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      chunks: { type: 'string' },
      'chunk-delay-ms': { type: 'string' },
      'latency-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const mock = await startMockUpstream({
    host: values.host ?? '127.0.0.1',
    port: flagNumber('--port', values.port, 9100, true),
    chunks: flagNumber('--chunks', values.chunks, 8, true),
    chunkDelayMs: flagNumber('--chunk-delay-ms', values['chunk-delay-ms'], 0, false),
    latencyMs: flagNumber('--latency-ms', values['latency-ms'], 0, false),
  });
  process.stdout.write(`mock upstream listening on ${mock.url}\n`);
  const stop = (): void => {
    void mock.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return mock;
}

function flagNumber(flag: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const number = value.trim() === '' ? NaN : Number(value);
  if (!(number >= 0) || (integer && !Number.isInteger(number))) {
    throw new Error(`${flag} must be a non-negative ${integer ? 'integer' : 'number'}, got '${value}'`);
  }
  return number;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  runMockFromArgv(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`tollgate mock: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  });
}
