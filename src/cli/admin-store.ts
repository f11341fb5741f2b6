/**
 * The store an operator command acts on: the local one named by the config
 * (the same store `serve` uses), or with `--url` / TOLLGATE_URL a running
 * Tollgate's admin API (remote-store.ts), both as an `AdminStore`.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import type { Store } from '../store/store.ts';
import { openChangeSignal } from '../sync/change-signal.ts';
import { generateClientKey, hashClientKey, displayPrefix } from '../keys/client-key.ts';
import { announceStore, UsageError } from './output.ts';
import { openLocalStore } from './local-store.ts';
import { RemoteApiError } from './remote-client.ts';
import { remoteStore, type AdminStore } from './remote-store.ts';

/** The local store as an `AdminStore`: keys are generated and hashed here. */
function localAdmin(store: Store): AdminStore {
  return {
    ...store,
    keys: {
      list: () => store.keys.list(),
      listByUser: (userId) => store.keys.listByUser(userId),
      revoke: (idOrPrefix) => store.keys.revoke(idOrPrefix),
      update: (idOrPrefix, patch) => store.keys.update(idOrPrefix, patch),
      async create(userId, name, rules) {
        const secret = generateClientKey();
        return { key: await store.keys.insert({ userId, name, keyHash: hashClientKey(secret), prefix: displayPrefix(secret), ...rules }), secret };
      },
    },
    close: () => store.close(),
  };
}

/**
 * Runs `fn` against the admin API of a running Tollgate when `--url` /
 * TOLLGATE_URL is set (that node applies each change before answering).
 */
async function withRemote<T>(url: string, globals: Record<string, any>, fn: (store: AdminStore) => Promise<T>): Promise<T | undefined> {
  const token: string | undefined = globals.adminToken ?? (process.env.TOLLGATE_ADMIN_TOKEN || undefined);
  if (token === undefined) throw new UsageError('remote mode (--url) needs --admin-token or TOLLGATE_ADMIN_TOKEN');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be http(s)://host:port, got '${url}'`);
  announceStore(`admin API ${url}`);
  try {
    return await fn(remoteStore(url, token));
  } catch (err) {
    // Unreachable server, refused token, 5xx: a plain message and exit 1, not a stack trace.
    if (!(err instanceof RemoteApiError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

/** Runs `fn` remotely (see `withRemote`) or on the store named by the config, which it opens and closes. */
export async function withStore<T>(cmd: Command, fn: (store: AdminStore) => Promise<T>): Promise<T | undefined> {
  const globals = cmd.optsWithGlobals();
  const url: string | undefined = globals.url ?? (process.env.TOLLGATE_URL || undefined);
  if (url !== undefined) return withRemote(url, globals, fn);
  const config = loadConfig({ file: globals.config ?? null });
  const store = await openLocalStore(config);
  try {
    const result = await fn(localAdmin(store));
    if (config.redisUrl !== null) {
      // Running servers apply the change at once instead of at their next poll.
      const signal = openChangeSignal(config.redisUrl, config.redis.keyPrefix);
      await signal.publish();
      await signal.close();
    }
    return result;
  } finally {
    await store.close();
  }
}

export async function userByName(store: AdminStore, name: string) {
  const user = await store.users.byName(name);
  if (user === undefined) throw new UsageError(`no user named '${name}'`);
  return user;
}
