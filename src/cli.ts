#!/usr/bin/env node
/**
 * `tollgate <command>`: serve the gateway, run the mock upstream or the
 * benchmark, and the operator commands. Exit codes: 0 ok, 1 error, 2 usage.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from './config.ts';
import { StoreInputError } from './store/store.ts';
import { registerAdminCommands } from './cli/admin-commands.ts';
import { registerSecretsCommands } from './cli/secrets-commands.ts';
import { registerServiceCommands } from './cli/service-commands.ts';
import { registerFilterCommands } from './cli/filter-commands.ts';
import { registerProxyCommands } from './cli/proxy-commands.ts';
import { SecretError } from './secrets/secret-box.ts';
import { UsageError } from './cli/output.ts';

const program = new Command('tollgate')
  .description('Tollgate: an API gateway for LLM traffic')
  .option('-c, --config <file>', 'config file (default ./tollgate.yaml when present; every field can be overridden by TOLLGATE_* env)')
  .exitOverride()
  .showHelpAfterError();

program.command('serve').description('serve the gateway (embedded SQLite and in-memory limits unless DATABASE_URL / REDIS_URL are set)')
  .action(async (_o, cmd: Command) => {
    const { startTollgate } = await import('./main.ts');
    const config = loadConfig({ file: cmd.optsWithGlobals().config ?? null });
    const tollgate = await startTollgate(config);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      tollgate.logger.info({ signal, inFlight: tollgate.gateway.active.size }, 'draining');
      tollgate.close().then(
        () => process.exit(0),
        (err) => {
          console.error('shutdown failed:', err);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program.command('mock').description('run the mock upstream (OpenAI-compatible) as its own process')
  .allowUnknownOption().helpOption(false).argument('[args...]', 'see: tollgate mock --help')
  .action(async (args: string[]) => {
    const { runMockFromArgv } = await import('./mock/main.ts');
    await runMockFromArgv(args);
  });

program.command('bench').description('run the benchmark: Tollgate side by side with a bare Node passthrough and direct')
  .allowUnknownOption().helpOption(false).argument('[args...]', 'see: tollgate bench --help')
  .action(async (args: string[]) => {
    const { runBench } = await import('../bench/run.ts');
    process.exitCode = await runBench(args);
  });

registerAdminCommands(program);
registerSecretsCommands(program);
registerServiceCommands(program);
registerFilterCommands(program);
registerProxyCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? 0 : 2;
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
