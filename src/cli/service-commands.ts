/**
 * `tollgate service add|list|remove|allow|deny|rules` on the local store (the
 * same config, env and data dir as `serve`; running nodes pick the change up
 * through the change feed), and `tollgate link-key generate`.
 */
import type { Command } from 'commander';
import { generateLinkKey } from '../services/hop/link-key.ts';
import type { Store, ServiceTarget } from '../store/store.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { withLocalStore } from './local-store.ts';

/** `url` or `url=weight`. */
function parseTarget(value: string, previous: ServiceTarget[] = []): ServiceTarget[] {
  const m = /^(.+?)(?:=(\d+))?$/.exec(value)!;
  return [...previous, { url: m[1], weight: m[2] === undefined ? 1 : Number(m[2]) }];
}

function intOrNull(value: string | undefined, name: string): number | null {
  if (value === undefined) return null;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(value);
}

async function callerId(store: Store, caller: string): Promise<number> {
  const user = /^\d+$/.test(caller) ? await store.users.byId(Number(caller)) : await store.users.byName(caller);
  if (user === undefined) throw new UsageError(`no user "${caller}"`);
  return user.id;
}

const serviceRow = (s: { name: string; targets: ServiceTarget[]; timeoutMs: number; remote: boolean }) =>
  ({ name: s.name, targets: s.targets.map((t) => `${t.url}=${t.weight}`), timeout_ms: s.timeoutMs, remote: s.remote });

/** Registers `service …` and `link-key generate`. */
export function registerServiceCommands(program: Command): void {
  const service = program.command('service').description('service routes: /svc/<service>/<path> with caller rules');
  service.command('add').description('create or replace a service').argument('<name>')
    .option('--target <url[=weight]>', 'upstream base URL, repeatable', parseTarget)
    .option('--timeout <ms>', 'default timeout of its rules', '30000')
    .option('--remote', 'forward calls through the secure hop to the configured ingress node')
    .option('--json', 'print JSON for scripts')
    .action((name: string, o: OutputOptions & { target?: ServiceTarget[]; timeout: string; remote?: boolean }, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) =>
      print(serviceRow(await s.services.put({ name, targets: o.target ?? [], timeoutMs: intOrNull(o.timeout, 'timeout')!, remote: o.remote === true })), o)));
  service.command('list').description('list services').option('--json', 'print JSON for scripts')
    .action((o: OutputOptions, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) => print((await s.services.list()).map(serviceRow), o)));
  service.command('remove').description('delete a service and its rules').argument('<name>')
    .action((name: string, _o: unknown, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) => {
      if (!(await s.services.remove(name))) throw new UsageError(`no service "${name}"`);
      process.stdout.write(`removed ${name}\n`);
    }));
  service.command('allow').description('let a caller call paths and methods of a service').argument('<service>')
    .requiredOption('--caller <user>', 'user name or id')
    .option('--path <rule>', "prefix ('/v1/') or glob ('/items/*', '/files/**')", '/')
    .option('--methods <list>', 'comma list, or *', '*')
    .option('--rpm <n>', 'requests per minute')
    .option('--concurrency <n>', 'calls in flight')
    .option('--timeout <ms>', 'timeout of calls under this rule (default: the service timeout)')
    .option('--json', 'print JSON for scripts')
    .action((name: string, o: OutputOptions & { caller: string; path: string; methods: string; rpm?: string; concurrency?: string; timeout?: string }, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) => {
      const rule = await s.services.allow({
        service: name, userId: await callerId(s, o.caller), path: o.path, methods: o.methods.toUpperCase().split(',').map((m) => m.trim()),
        rpm: intOrNull(o.rpm, 'rpm'), concurrency: intOrNull(o.concurrency, 'concurrency'), timeoutMs: intOrNull(o.timeout, 'timeout'),
      });
      print({ id: rule.id, service: rule.service, user_id: rule.userId, path: rule.path, methods: rule.methods, rpm: rule.rpm, concurrency: rule.concurrency, timeout_ms: rule.timeoutMs }, o);
    }));
  service.command('deny').description("remove a caller's rules on a service (one path, or all)").argument('<service>')
    .requiredOption('--caller <user>', 'user name or id')
    .option('--path <rule>', 'only this path rule')
    .action((name: string, o: { caller: string; path?: string }, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) => {
      const n = await s.services.deny(name, await callerId(s, o.caller), o.path ?? null);
      process.stdout.write(`removed ${n} rule${n === 1 ? '' : 's'}\n`);
    }));
  service.command('rules').description('list caller rules').argument('[service]').option('--json', 'print JSON for scripts')
    .action((name: string | undefined, o: OutputOptions, cmd: Command) => withLocalStore(cmd, 'service', '/admin/services', async (s) =>
      print((await s.services.rules(name)).map((r) => ({ id: r.id, service: r.service, user_id: r.userId, path: r.path, methods: r.methods, rpm: r.rpm, concurrency: r.concurrency, timeout_ms: r.timeoutMs })), o)));

  program.command('link-key').description('link keys of the secure hop between two nodes')
    .command('generate').description('print a new random link key and id (put it in services.egress and services.ingress.linkKeys)')
    .option('--json', 'print JSON for scripts')
    .action((o: OutputOptions) => print(generateLinkKey(), o));
}
