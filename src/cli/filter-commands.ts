/**
 * `tollgate filter add|list|remove` on the local store (the same config, env and
 * data dir as `serve`; running nodes pick changes up through the change feed).
 * Remotely, the admin API's /admin/filters does the same.
 */
import type { Command } from 'commander';
import { StoreInputError, type Store } from '../store/store.ts';
import { DEFAULT_REGEX_MAX_LENGTH, type FilterKind, type FilterScope } from '../filters/filter-rules.ts';
import { filterView } from '../admin/admin-filters.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { withLocalStore } from './local-store.ts';

interface AddOptions extends OutputOptions {
  channel?: string; model?: string; key?: string;
  literal?: string; regex?: string; stripThinking?: boolean;
  replace?: string; maxLength: string;
}

/** The scope and subject from --channel / --model / --key (at most one; none: global). */
async function scopeOf(store: Store, o: AddOptions): Promise<{ scope: FilterScope; subject: string }> {
  const given = [o.channel, o.model, o.key].filter((v) => v !== undefined);
  if (given.length > 1) throw new UsageError('give at most one of --channel, --model, --key (none: every request)');
  if (o.channel !== undefined) {
    const channel = await store.channels.byName(o.channel);
    if (channel === undefined) throw new UsageError(`no channel "${o.channel}"`);
    return { scope: 'channel', subject: String(channel.id) };
  }
  if (o.model !== undefined) return { scope: 'model', subject: o.model };
  if (o.key !== undefined) {
    const matches = (await store.keys.list()).filter((k) => String(k.id) === o.key || k.prefix === o.key);
    if (matches.length !== 1) throw new UsageError(matches.length === 0 ? `no key "${o.key}"` : `prefix "${o.key}" matches ${matches.length} keys; give the id`);
    const key = matches[0];
    return { scope: 'key', subject: String(key.id) };
  }
  return { scope: 'global', subject: '' };
}

function kindOf(o: AddOptions): { kind: FilterKind; pattern: string } {
  const given = [o.literal, o.regex, o.stripThinking].filter((v) => v !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one of --literal <text>, --regex <pattern>, --strip-thinking');
  if (o.stripThinking) return { kind: 'strip_thinking', pattern: '' };
  return o.literal !== undefined ? { kind: 'literal', pattern: o.literal } : { kind: 'regex', pattern: o.regex! };
}

/** Registers `filter …`. */
export function registerFilterCommands(program: Command): void {
  const filter = program.command('filter').description('response filters: text replaced or dropped in answers, streamed or not (take effect without restart)');
  filter.command('add').description('add a rule (scope: every request, or one --channel, --model or --key)')
    .option('--literal <text>', 'match this text exactly')
    .option('--regex <pattern>', 'match a JavaScript regex (no anchors, lookarounds, \\b or backreferences)')
    .option('--strip-thinking', 'drop <think>…</think> spans, reasoning_content fields and thinking text')
    .option('--replace <text>', 'the replacement (default: the match is dropped)')
    .option('--max-length <n>', 'regex only: the longest text it may match; streams hold back this much', String(DEFAULT_REGEX_MAX_LENGTH))
    .option('--channel <name>', 'only answers from this channel')
    .option('--model <model>', 'only this model')
    .option('--key <idOrPrefix>', 'only requests with this client key')
    .option('--json', 'print JSON for scripts')
    .action((o: AddOptions, cmd: Command) => withLocalStore(cmd, 'filter', '/admin/filters', async (store) => {
      const maxLength = Number(o.maxLength);
      if (!Number.isSafeInteger(maxLength)) throw new UsageError('--max-length must be an integer');
      const rule = await store.filters.add({ ...(await scopeOf(store, o)), ...kindOf(o), replacement: o.replace ?? null, maxLength }).catch((err: unknown) => {
        if (err instanceof StoreInputError) throw new UsageError(err.message);
        throw err;
      });
      print(filterView(rule), o);
    }));
  filter.command('list').description('list rules').option('--json', 'print JSON for scripts')
    .action((o: OutputOptions, cmd: Command) => withLocalStore(cmd, 'filter', '/admin/filters', async (store) => print((await store.filters.list()).map(filterView), o)));
  filter.command('remove').description('remove a rule by id').argument('<id>')
    .action((id: string, _o: unknown, cmd: Command) => withLocalStore(cmd, 'filter', '/admin/filters', async (store) => {
      if (!/^\d+$/.test(id) || !(await store.filters.remove(Number(id)))) throw new UsageError(`no filter rule ${id}`);
      process.stdout.write(`removed filter ${id}\n`);
    }));
}
