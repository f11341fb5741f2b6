/**
 * `tollgate <command>`: serve the gateway, run the mock upstream or the
 * benchmark, and the operator commands. Exit codes: 0 ok, 1 error, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { StoreInputError } from '../store/store.ts';
import { registerAdminCommands } from './admin-commands.ts';
import { registerSecretsCommands } from './secrets-commands.ts';
import { registerServiceCommands } from './service-commands.ts';
import { registerFilterCommands } from './filter-commands.ts';
import { registerProxyCommands } from './proxy-commands.ts';
import { registerBudgetCommands } from './budget-commands.ts';
import { SecretError } from '../secrets/secret-box.ts';
import { UsageError } from './output.ts';
import { storeLabel } from './local-store.ts';

const program = new Command('tollgate')
  .description('Tollgate: an API gateway for LLM traffic')
  .option('-c, --config <file>', 'config file (default: tollgate.yaml in this directory or the nearest parent; every field can be overridden by TOLLGATE_* env)')
  .exitOverride()
  .showHelpAfterError();

/** `serve` options that stand for a config field: each is applied as its TOLLGATE_* env override. */
const SERVE_OPTIONS = [
  ['--host <address>', 'listen address', 'TOLLGATE_HOST', 'host'],
  ['--port <port>', 'listen port', 'TOLLGATE_PORT', 'port'],
  ['--data-dir <dir>', 'SQLite file and usage spool', 'TOLLGATE_DATA_DIR', 'dataDir'],
  ['--admin-port <port>', 'serve /admin and /dashboard on their own listener', 'TOLLGATE_ADMIN_PORT', 'adminPort'],
  ['--workers <n>', 'event loops sharing the port (worker threads; 1 = one process, no threads; default: one per core)', 'TOLLGATE_WORKERS', 'workers'],
] as const;

const serve = program.command('serve').description('serve the gateway (embedded SQLite and in-memory limits unless DATABASE_URL / REDIS_URL are set)');
for (const [flags, description, env] of SERVE_OPTIONS) serve.option(flags, `${description} (env ${env})`);
serve.addHelpText('after', `
Every other setting comes from tollgate.yaml (found in this directory or a
parent, like the store; see tollgate.example.yaml) or its TOLLGATE_* env
variable, e.g. TOLLGATE_ADMIN_TOKEN (enables /admin and /dashboard),
DATABASE_URL (PostgreSQL), REDIS_URL (shared limits), TOLLGATE_LOG_LEVEL.
The full list: README.md, section Configuration.
`);
serve.action(async (o: Record<string, string | undefined>, cmd: Command) => {
  const env = { ...process.env };
  for (const [, , name, key] of SERVE_OPTIONS) if (o[key] !== undefined) env[name] = o[key];
  const config = loadConfig({ file: cmd.optsWithGlobals().config ?? null, env });
  const workers = config.workers === 0 ? availableParallelism() : config.workers;
  if (workers > 1) return serveWorkers(config, workers);
  const { startTollgate } = await import('../main.ts');
  const tollgate = await startTollgate(config);
  process.stderr.write(startLine(tollgate.url, storeLabel(config), tollgate.server.adminUrl ?? tollgate.url, config.adminToken !== null, 1));
  stopOnSignals((signal) => tollgate.logger.info({ signal, inFlight: tollgate.gateway.active.size }, 'draining'), () => tollgate.close());
});

/** `serve` with worker threads (src/workers/serve-workers.ts). */
async function serveWorkers(config: Config, workers: number): Promise<void> {
  const { serveWithWorkers } = await import('../workers/serve-workers.ts');
  const starting = serveWithWorkers(config, workers);
  // Handlers first: a SIGTERM while the workers start lets them start, then drains them.
  const stop = stopOnSignals((signal) => process.stderr.write(`${signal}: draining ${workers} workers\n`), async () => (await starting).close());
  const server = await starting;
  process.stderr.write(startLine(server.url, storeLabel(config), server.adminUrl ?? server.url, config.adminToken !== null, workers));
  // A crashed worker is replaced inside the process; workers that keep crashing stop the server:
  // drain the rest cleanly and exit non-zero for the process supervisor to see.
  void server.failed.then((err) => {
    server.logger.error({ err: err.message }, 'workers keep crashing; shutting down');
    process.exitCode = 1;
    stop('worker-exit');
  });
}

/** Drains on SIGTERM/SIGINT, then exits (0, or 1 when the shutdown failed or was caused by a failure). */
function stopOnSignals(log: (signal: string) => void, close: () => Promise<void>): (reason: string) => void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(signal);
    close().then(
      () => process.exit(process.exitCode ?? 0),
      (err) => {
        console.error('shutdown failed:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return stop;
}

/** The one human line `serve` prints at start, besides the JSON log. */
function startLine(url: string, store: string, adminBase: string, adminOn: boolean, workers: number): string {
  const admin = adminOn ? `admin API on (${adminBase}/admin)` : 'admin API off (set TOLLGATE_ADMIN_TOKEN)';
  return `Tollgate serving ${url}/v1${workers > 1 ? ` · ${workers} workers` : ''} · store ${store} · ${admin} · dashboard ${adminBase}/dashboard/${adminOn ? '' : ' (needs the admin token)'}\n`;
}

program.command('mock').description('run the mock upstream (OpenAI-compatible) as its own process')
  .allowUnknownOption().helpOption(false).argument('[args...]', 'see: tollgate mock --help')
  .action(async (args: string[]) => {
    const { runMockFromArgv } = await import('../mock/main.ts');
    await runMockFromArgv(args);
  });

program.command('bench').description('run the benchmark: Tollgate side by side with a bare Node passthrough and direct')
  .allowUnknownOption().helpOption(false).argument('[args...]', 'see: tollgate bench --help')
  .action(async (args: string[]) => {
    const { runBench } = await import('../../bench/run.ts');
    process.exitCode = await runBench(args);
  });

registerAdminCommands(program);
registerSecretsCommands(program);
registerServiceCommands(program);
registerFilterCommands(program);
registerProxyCommands(program);
registerBudgetCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Asked-for help is 0; help shown because no (sub)command was given is a usage error.
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || (err.code === 'commander.help' && err.exitCode === 0) ? 0 : 2;
  } else if (err instanceof UsageError || err instanceof ConfigError) {
    console.error(`error: ${err.message}`);
    process.exitCode = 2;
  } else if (err instanceof StoreInputError || err instanceof SecretError) {
    console.error(`error: ${err.message}`);
    process.exitCode = 1;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
}
