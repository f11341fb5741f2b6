/**
 * `tollgate secrets rotate`: re-seal every upstream key secret with the
 * current master key, in one transaction, on the local store (the same
 * config/env/data dir as `serve`, so both find the same keys).
 *
 * Rotation with env keys: set TOLLGATE_SECRET_KEY to the new key and
 * TOLLGATE_SECRET_KEY_PREVIOUS to the old one on every node and restart them,
 * run `tollgate secrets rotate` with the same env, then drop the previous key.
 * With the key file: `tollgate secrets rotate --new-key` moves
 * `secret.key` to `secret.key.previous`, writes a new `secret.key` and
 * re-seals; running servers re-read the key files when they meet the new key
 * id. Delete `secret.key.previous` once it succeeded.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { generateMasterKey, KEY_ENV, KEY_FILE, PREVIOUS_KEY_FILE, readKeyFile, writeKeyFile } from '../secrets/master-key.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { openLocalStore } from './local-store.ts';

/** Moves the current key file to `secret.key.previous` and writes a new one. */
function replaceKeyFile(dataDir: string): void {
  if (process.env[KEY_ENV]) throw new UsageError(`--new-key works with the key file; with ${KEY_ENV} set, set the new key there and the old one in TOLLGATE_SECRET_KEY_PREVIOUS instead`);
  const current = join(dataDir, KEY_FILE);
  const previous = join(dataDir, PREVIOUS_KEY_FILE);
  if (!existsSync(current)) throw new UsageError(`no key file at ${current} to rotate`);
  if (existsSync(previous)) throw new UsageError(`${previous} exists: finish that rotation first (tollgate secrets rotate), then delete it`);
  // The old key is safe in .previous before the new one replaces it: at every step both files open every row.
  writeKeyFile(previous, readKeyFile(current), true);
  writeKeyFile(current, generateMasterKey(), false);
}

/** Registers `secrets rotate`. */
export function registerSecretsCommands(program: Command): void {
  const secrets = program.command('secrets').description('upstream key encryption at rest');
  secrets.command('rotate')
    .description('re-encrypt every stored upstream key with the current master key (the previous one must still be configured)')
    .option('--new-key', `generate a new ${KEY_FILE} first (key file mode), keeping the old one as ${PREVIOUS_KEY_FILE}`)
    .option('--json', 'print JSON for scripts')
    .action(async (o: OutputOptions & { newKey?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals();
      if (globals.url ?? process.env.TOLLGATE_URL) throw new UsageError('secrets rotate works on the local store only (no --url / TOLLGATE_URL)');
      const config = loadConfig({ file: globals.config ?? null });
      if (o.newKey) replaceKeyFile(config.dataDir);
      const store = await openLocalStore(config);
      try {
        const r = await store.rotateSecrets();
        print({ key_id: r.keyId, rows: r.rows, reencrypted: r.changed }, o);
      } finally {
        await store.close();
      }
    });
}
