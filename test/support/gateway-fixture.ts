/**
 * Starts a real Tollgate (port 0, temp SQLite dir, in-process mock upstream)
 * and creates a user with a key, the way the CLI would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startTollgate, type Tollgate } from '../../src/main.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../../src/keys/client-key.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface Fixture {
  tg: Tollgate;
  url: string;
  dataDir: string;
  userId: number;
  keyId: number;
  key: string;
  /** Creates another user with a key. */
  newUser(name: string, creditMicros?: number): Promise<{ userId: number; keyId: number; key: string }>;
  close(): Promise<void>;
}

/** `env` overrides config; `userName` names the user created (a second gateway on the same data dir needs another); `logger` defaults to silent. */
export async function startFixture(env: Record<string, string> = {}, userName = 'alice', logger: Logger = pino({ level: 'silent' })): Promise<Fixture> {
  const dataDir = env.TOLLGATE_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'tollgate-test-'));
  const config = loadConfig({
    file: null,
    env: { TOLLGATE_PORT: '0', TOLLGATE_DATA_DIR: dataDir, TOLLGATE_ADMIN_TOKEN: ADMIN_TOKEN, TOLLGATE_CHANGE_POLL_MS: '50', ...env },
  });
  const tg = await startTollgate(config, { logger });
  const newUser = async (name: string, creditMicros = 0) => {
    const user = await tg.store.users.create({ name });
    if (creditMicros !== 0) await tg.store.users.credit(user.id, creditMicros);
    const key = generateClientKey();
    const k = await tg.store.keys.insert({ userId: user.id, name: 'test', keyHash: hashClientKey(key), prefix: displayPrefix(key) });
    return { userId: user.id, keyId: k.id, key };
  };
  const alice = await newUser(userName);
  return {
    tg,
    url: tg.url,
    dataDir,
    ...alice,
    newUser,
    async close() {
      await tg.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
