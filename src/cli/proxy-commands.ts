/**
 * `tollgate proxy add|list|remove|bind|unbind` on the local store (the same
 * config, env and data dir as `serve`; running nodes pick the change up
 * through the change feed). Remotely, the admin API's /admin/proxies and
 * /admin/proxy-bindings do the same. Credentials go in and never come out:
 * lists show the credential-free URL and whether there are credentials. A
 * password on the command line is visible to other local users (ps, shell
 * history), so `--password-env` reads it from an environment variable.
 */
import type { Command } from 'commander';
import { checkUpstreamUrl, DEFAULT_ADDRESS_POLICY } from '../routing/upstream-address-policy.ts';
import { parseProxyUrl, type OutboundProxy, type Store } from '../store/store.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { withLocalStore } from './local-store.ts';

type Opts = OutputOptions & Record<string, string | undefined>;

const proxyRow = (p: OutboundProxy, channels: ReadonlyMap<number, string>) => ({
  id: p.id, name: p.name, kind: p.kind, url: p.url, pool: p.channelId === null ? 'global' : `channel ${channels.get(p.channelId) ?? p.channelId}`,
  enabled: p.enabled, credentials: p.hasCredentials,
});

async function proxyByName(store: Store, name: string): Promise<OutboundProxy> {
  const proxy = await store.proxies.byName(name);
  if (proxy === undefined) throw new UsageError(`no proxy named '${name}'`);
  return proxy;
}

/** `--user <name>` or `--key <id>`: exactly one. */
async function subjectOf(store: Store, o: Opts): Promise<{ scope: 'user' | 'key'; id: number; label: string }> {
  if ((o.user === undefined) === (o.key === undefined)) throw new UsageError('give --user <name> or --key <id>');
  if (o.user !== undefined) {
    const user = await store.users.byName(o.user);
    if (user === undefined) throw new UsageError(`no user named '${o.user}'`);
    return { scope: 'user', id: user.id, label: `user ${user.name}` };
  }
  if (!/^\d{1,15}$/.test(o.key!)) throw new UsageError('--key must be a client key id');
  return { scope: 'key', id: Number(o.key), label: `key ${o.key}` };
}

/** Registers `proxy …`. */
export function registerProxyCommands(program: Command): void {
  const proxy = program.command('proxy').description('outbound proxies (HTTP(S) CONNECT, SOCKS5) and the users and keys bound to them');
  proxy.command('add').description('add a proxy to the global pool, or to one channel\'s pool with --channel')
    .requiredOption('--name <name>').requiredOption('--proxy-url <url>', 'http://, https:// or socks5://[user:password@]host:port (--url is the remote-mode option)')
    .option('--username <user>').option('--password-env <VAR>', 'read the password from this environment variable')
    .option('--channel <name>', "only this channel's unbound traffic uses the proxy").option('--json', 'print JSON for scripts')
    .action((o: Opts, cmd: Command) => withLocalStore(cmd, 'proxy', '/admin/proxies', async (s) => {
      const address = parseProxyUrl(o.proxyUrl!).url;
      // Only the always-refused kinds (metadata, link-local, unspecified): proxies usually live on private networks.
      const verdict = checkUpstreamUrl(address.replace(/^socks5:/, 'http:'), DEFAULT_ADDRESS_POLICY);
      if (!verdict.ok) throw new UsageError(`the proxy address is refused: ${verdict.message}`);
      let password: string | undefined;
      if (o.passwordEnv !== undefined) {
        password = process.env[o.passwordEnv];
        if (password === undefined) throw new UsageError(`environment variable ${o.passwordEnv} is not set`);
      }
      let channelId: number | null = null;
      if (o.channel !== undefined) {
        const channel = await s.channels.byName(o.channel);
        if (channel === undefined) throw new UsageError(`no channel named '${o.channel}'`);
        channelId = channel.id;
      }
      const p = await s.proxies.add({ name: o.name!, url: o.proxyUrl!, username: o.username, password, channelId });
      print(proxyRow(p, new Map(o.channel === undefined ? [] : [[channelId!, o.channel]])), o);
    }));
  proxy.command('list').description('list proxies (never their credentials)').option('--json', 'print JSON for scripts')
    .action((o: Opts, cmd: Command) => withLocalStore(cmd, 'proxy', '/admin/proxies', async (s) => {
      const channels = new Map((await s.channels.listFull()).map((c) => [c.id, c.name]));
      const bindings = await s.proxies.bindings();
      print((await s.proxies.list()).map((p) => ({ ...proxyRow(p, channels), bound: bindings.filter((b) => b.proxyId === p.id).map((b) => `${b.scope}:${b.subjectId}`) })), o);
    }));
  proxy.command('remove').description('remove a proxy and the bindings to it').requiredOption('--name <name>')
    .action((o: Opts, cmd: Command) => withLocalStore(cmd, 'proxy', '/admin/proxies', async (s) => {
      await s.proxies.remove((await proxyByName(s, o.name!)).id);
      process.stdout.write(`removed ${o.name}\n`);
    }));
  proxy.command('bind').description("send a user's or key's traffic always through one proxy").requiredOption('--name <proxy>')
    .option('--user <name>').option('--key <id>')
    .action((o: Opts, cmd: Command) => withLocalStore(cmd, 'proxy', '/admin/proxies', async (s) => {
      const p = await proxyByName(s, o.name!);
      const subject = await subjectOf(s, o);
      await s.proxies.bind(subject.scope, subject.id, p.id);
      process.stdout.write(`${subject.label} now leaves through ${p.name}\n`);
    }));
  proxy.command('unbind').description("remove a user's or key's binding").option('--user <name>').option('--key <id>')
    .action((o: Opts, cmd: Command) => withLocalStore(cmd, 'proxy', '/admin/proxies', async (s) => {
      const subject = await subjectOf(s, o);
      if (!(await s.proxies.unbind(subject.scope, subject.id))) throw new UsageError(`${subject.label} is not bound to a proxy`);
      process.stdout.write(`${subject.label} unbound\n`);
    }));
}
