/**
 * Operator commands that act on the store directly: the same store `serve`
 * uses given the same config/env. They work while a server runs — the server
 * notices through the change feed (revocations, channels, prices, limits,
 * credits) within its poll interval. Key commands are in key-commands.ts.
 *
 * With `--url` (or TOLLGATE_URL) the same commands call that Tollgate's admin
 * API instead (remote-store.ts), with `--admin-token` / TOLLGATE_ADMIN_TOKEN;
 * the serving node applies each change before it answers.
 */
import { Option, type Command } from 'commander';
import { loadConfig } from '../config.ts';
import type { StoredPrice, UsageGroupBy } from '../store/store.ts';
import type { LimitRowScope } from '../store/limit-repo.ts';
import type { ChannelType } from '../store/channel-repo.ts';
import { checkUpstreamUrl, DEFAULT_ADDRESS_POLICY } from '../routing/upstream-address-policy.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { loadNames } from './names.ts';
import type { AdminStore } from './remote-store.ts';
import { userByName, withStore } from './admin-store.ts';
import { registerKeyCommands } from './key-commands.ts';

type Opts = OutputOptions & Record<string, any>;

/**
 * The SSRF policy at config time: the local config's, or in remote mode the
 * default one here (the server applies its own setting and answers 400).
 */
function checkBaseUrl(cmd: Command, value: string): void {
  const globals = cmd.optsWithGlobals();
  const remote = (globals.url ?? (process.env.TOLLGATE_URL || undefined)) !== undefined;
  const policy = remote ? DEFAULT_ADDRESS_POLICY : loadConfig({ file: globals.config ?? null }).upstream;
  const verdict = checkUpstreamUrl(value, policy);
  if (!verdict.ok) throw new UsageError(`--base-url '${value}' is refused: ${verdict.message}`);
}

/** A price as `price set` and `price list` print it; unset kind prices show as '-'. */
const priceRow = (p: StoredPrice) => ({
  model: p.model, channel_id: p.channelId, input_micros_per_mtok: p.inputMicrosPerMTok, output_micros_per_mtok: p.outputMicrosPerMTok,
  cached_input: p.cachedInputMicrosPerMTok, cache_write: p.cacheWriteMicrosPerMTok, reasoning: p.reasoningMicrosPerMTok, free: p.free,
});

const CHANNEL_TYPES: ChannelType[] = ['openai', 'openai-compatible', 'anthropic', 'mock'];

const CHANNEL_ADD_HELP = `
--base-url per --type (the root before /chat/completions or /messages; a URL without a path gets /v1):
  openai             https://api.openai.com/v1, or a compatible API that has /responses
  openai-compatible  a chat-only API's root, e.g. http://127.0.0.1:11434/v1 (Ollama),
                     https://openrouter.ai/api/v1 (Responses requests are translated to chat)
  anthropic          https://api.anthropic.com
  mock               the URL printed by 'tollgate mock'

Every model needs a price (or --free) before clients can use it; until then
they get 403 model_not_priced:
  tollgate price set --model <model> --input <micros per 1M> --output <micros per 1M>
  tollgate price set --model <model> --free
`;

/** Says on stderr which of the channel's models no price covers: clients would get 403 for them. */
async function warnUnpriced(s: AdminStore, channelId: number, models: string[]): Promise<void> {
  const prices = await s.prices.list();
  for (const model of models) {
    if (prices.some((p) => p.model === model && (p.channelId === null || p.channelId === channelId))) continue;
    process.stderr.write(`note: '${model}' has no price, so clients get 403 model_not_priced for it: tollgate price set --model ${model} --input <micros per 1M> --output <micros per 1M> (or --free)\n`);
  }
}

/** A limit flag: absent (keep), 'none' (lift: null) or an integer ≥ 0. */
function limitOption(value: string | undefined, name: string): number | null | undefined {
  if (value === undefined) return undefined;
  return value === 'none' ? null : intOption(value, name);
}

function intOption(value: string | undefined, name: string, min = 0): number | null {
  if (value === undefined) return null;
  if (!/^-?\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${value}'`);
  return Number(value);
}

/** `--first-token-timeout-ms`: absent stays absent (undefined). */
function firstTokenOption(value: string | undefined): number | undefined {
  return intOption(value, 'first-token-timeout-ms', 1) ?? undefined;
}

const userRow = (u: { id: number; name: string; balanceMicros: number; disabled: boolean; createdAt: number }) => ({ id: u.id, name: u.name, balance_micros: u.balanceMicros, disabled: u.disabled, created: new Date(u.createdAt).toISOString() });

export function registerAdminCommands(program: Command): void {
  program
    .option('--url <url>', 'act through the admin API of a running Tollgate (http://host:port) instead of the local store; env TOLLGATE_URL')
    .option('--admin-token <token>', 'admin token for --url; env TOLLGATE_ADMIN_TOKEN');
  const json = (c: Command) => c.option('--json', 'print JSON for scripts');

  const user = program.command('user').description('manage users');
  json(user.command('create').description('create a user').requiredOption('--name <name>', 'unique user name'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => print(userRow(await s.users.create({ name: o.name })), o)));
  json(user.command('list').description('list users'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => print((await s.users.list()).map(userRow), o)));
  json(user.command('credit').description('add (or with a negative amount, remove) credits, in micro-credits').requiredOption('--user <name>').requiredOption('--add <micros>', 'micro-credits (1 credit = 1,000,000)'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const u = await userByName(s, o.user);
      const amount = intOption(o.add, 'add', Number.MIN_SAFE_INTEGER)!;
      print({ user: u.name, balance_micros: await s.users.credit(u.id, amount) }, o);
    }));
  for (const [name, disabled] of [['disable', true], ['enable', false]] as const) {
    json(user.command(name).description(`${name} a user (all their keys stop/start working)`).requiredOption('--user <name>'))
      .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
        const u = await userByName(s, o.user);
        await s.users.setDisabled(u.id, disabled);
        print({ user: u.name, disabled }, o);
      }));
  }

  registerKeyCommands(program, json);

  const channel = program.command('channel').description('manage upstream channels');
  json(channel.command('add').description('add an upstream channel')
    .requiredOption('--name <name>').requiredOption('--base-url <url>', 'the API root for its type (see below)')
    .addOption(new Option('--type <type>', 'openai (OpenAI, or a compatible API that has /responses), openai-compatible (chat only: Responses requests are translated to chat), anthropic (Claude), or mock').choices(CHANNEL_TYPES).default('openai'))
    .requiredOption('--models <list>', 'comma-separated; rename with client=upstream, e.g. gpt-4o,fast=gpt-4o-mini')
    .option('--key <secret...>', 'upstream API key(s)').option('--weight <n>', 'weighted round-robin share', '1').option('--priority <n>', 'higher is tried first', '0')
    .option('--first-token-timeout-ms <ms>', 'fail a stream over to the next channel when no first byte came within this time'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      checkBaseUrl(cmd, o.baseUrl);
      const models = String(o.models).split(',').map((m) => m.trim()).filter(Boolean).map((m) => {
        const [model, upstream] = m.split('=');
        return { model, upstreamModel: upstream ?? model };
      });
      if (models.length === 0) throw new UsageError('--models needs at least one model');
      const c = await s.channels.add({ name: o.name, type: o.type as ChannelType, baseUrl: o.baseUrl, weight: intOption(o.weight, 'weight', 1)!, priority: intOption(o.priority, 'priority', -1_000_000)!, firstTokenTimeoutMs: firstTokenOption(o.firstTokenTimeoutMs), models });
      for (const secret of o.key ?? []) await s.channels.addKey(c.id, secret);
      print({ id: c.id, name: c.name, type: c.type, base_url: c.baseUrl, models: models.map((m) => m.model), keys: (o.key ?? []).length }, o);
      await warnUnpriced(s, c.id, models.map((m) => m.model));
    }));
  json(channel.command('update').description("change a channel's base URL, weight, priority or first-token timeout").requiredOption('--name <name>')
    .option('--base-url <url>').option('--weight <n>').option('--priority <n>')
    .option('--first-token-timeout-ms <ms>', "ms, or 'off' to remove the limit"))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const c = await s.channels.byName(o.name);
      if (c === undefined) throw new UsageError(`no channel named '${o.name}'`);
      if (o.baseUrl !== undefined) checkBaseUrl(cmd, o.baseUrl);
      const u = await s.channels.update(c.id, {
        baseUrl: o.baseUrl, weight: intOption(o.weight, 'weight') ?? undefined, priority: intOption(o.priority, 'priority', -1_000_000) ?? undefined,
        firstTokenTimeoutMs: o.firstTokenTimeoutMs === 'off' ? null : firstTokenOption(o.firstTokenTimeoutMs),
      });
      print({ id: u.id, name: u.name, base_url: u.baseUrl, weight: u.weight, priority: u.priority, first_token_timeout_ms: u.firstTokenTimeoutMs }, o);
    }));
  channel.commands.find((c) => c.name() === 'add')!.addHelpText('after', CHANNEL_ADD_HELP);
  json(channel.command('list').description('list channels with their models and key count'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => print((await s.channels.listFull()).map((c) => ({
      id: c.id, name: c.name, type: c.type, base_url: c.baseUrl, enabled: c.enabled, priority: c.priority, weight: c.weight, first_token_timeout_ms: c.firstTokenTimeoutMs,
      models: c.models.map((m) => (m.model === m.upstreamModel ? m.model : `${m.model}=${m.upstreamModel}`)), keys: c.keys.filter((k) => k.enabled).length,
    })), o)));
  json(channel.command('key').description('upstream keys of a channel').command('add').description('add an upstream API key to a channel').requiredOption('--channel <name>').requiredOption('--key <secret>'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const c = await s.channels.byName(o.channel);
      if (c === undefined) throw new UsageError(`no channel named '${o.channel}'`);
      const k = await s.channels.addKey(c.id, o.key);
      print({ channel: c.name, key_id: k.id }, o);
    }));
  for (const [name, enabled] of [['disable', false], ['enable', true]] as const) {
    json(channel.command(name).description(`${name} a channel`).requiredOption('--name <name>'))
      .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
        const c = await s.channels.byName(o.name);
        if (c === undefined) throw new UsageError(`no channel named '${o.name}'`);
        await s.channels.setEnabled(c.id, enabled);
        print({ channel: c.name, enabled }, o);
      }));
  }

  const price = program.command('price').description('model prices, in micro-credits per 1M tokens');
  json(price.command('set').description('set the price of a model (optionally on one channel)').requiredOption('--model <model>')
    .option('--input <micros>', 'micro-credits per 1M prompt tokens').option('--output <micros>', 'micro-credits per 1M completion tokens')
    .option('--cached-input <micros>', 'per 1M prompt tokens read from the prompt cache (default: the input price)')
    .option('--cache-write <micros>', 'per 1M prompt tokens written to the prompt cache (default: the input price)')
    .option('--reasoning <micros>', 'per 1M reasoning tokens (default: the output price)')
    .option('--free', 'serve the model at no charge').option('--channel <name>', 'price only on this channel'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      if (!o.free && (o.input === undefined || o.output === undefined)) throw new UsageError('give --input and --output, or --free');
      let channelId: number | null = null;
      if (o.channel) {
        const c = await s.channels.byName(o.channel);
        if (c === undefined) throw new UsageError(`no channel named '${o.channel}'`);
        channelId = c.id;
      }
      const p = await s.prices.set({
        model: o.model, channelId, inputMicrosPerMTok: intOption(o.input, 'input') ?? 0, outputMicrosPerMTok: intOption(o.output, 'output') ?? 0,
        cachedInputMicrosPerMTok: intOption(o.cachedInput, 'cached-input'), cacheWriteMicrosPerMTok: intOption(o.cacheWrite, 'cache-write'), reasoningMicrosPerMTok: intOption(o.reasoning, 'reasoning'),
        free: o.free === true,
      });
      print(priceRow(p), o);
    }));
  json(price.command('list').description('list prices'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => print((await s.prices.list()).map(priceRow), o)));

  const limit = program.command('limit').description('rate-limit policies (take effect without restart)');
  const scopeOptions = (c: Command) => c.option('--global', 'the whole gateway').option('--user <name>').option('--key <idOrPrefix>').option('--model <model>', 'a model; with --user, that user on that model');
  json(scopeOptions(limit.command('set').description("change RPM / TPM / concurrency of a scope; limits not given keep their value ('none' lifts one; 'limit remove' removes all)"))
    .option('--rpm <n>', "requests per minute, or 'none'").option('--tpm <n>', "tokens per minute, or 'none'").option('--concurrency <n>', "requests in flight, or 'none'"))
    .action(async (o: Opts, cmd: Command) => {
      const change = { rpm: limitOption(o.rpm, 'rpm'), tpm: limitOption(o.tpm, 'tpm'), concurrency: limitOption(o.concurrency, 'concurrency') };
      if (Object.values(change).every((v) => v === undefined)) throw new UsageError('give at least one of --rpm, --tpm, --concurrency (to remove a policy: tollgate limit remove)');
      return withStore(cmd, async (s) => {
        const { scope, subject } = await resolveScope(s, o);
        const p = await s.limits.patch({ scope, subject, ...change });
        print({ scope: p.scope, subject: (await loadNames(s)).subject(p.scope, p.subject), rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency }, o);
      });
    });
  json(scopeOptions(limit.command('remove').description('remove the policy of a scope')))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const { scope, subject } = await resolveScope(s, o);
      print({ scope, subject: (await loadNames(s)).subject(scope, subject), removed: await s.limits.remove(scope, subject) }, o);
    }));
  json(limit.command('list').description('list policies'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const names = await loadNames(s);
      print((await s.limits.list()).map((p) => ({ scope: p.scope, subject: names.subject(p.scope, p.subject), ...(o.json ? { subject_id: p.subject } : {}), rpm: p.rpm, tpm: p.tpm, concurrency: p.concurrency })), o);
    }));

  registerUsageCommands(program, json);
}

async function resolveScope(s: AdminStore, o: Opts): Promise<{ scope: LimitRowScope; subject: string }> {
  const chosen = [o.global, o.user, o.key, o.model].filter((v) => v !== undefined).length;
  if (o.global && chosen === 1) return { scope: 'global', subject: '' };
  if (o.user && o.model && chosen === 2) return { scope: 'user_model', subject: `${(await userByName(s, o.user)).id}:${o.model}` };
  if (chosen !== 1) throw new UsageError('name exactly one scope: --global, --user, --key, --model (or --user with --model)');
  if (o.user) return { scope: 'user', subject: String((await userByName(s, o.user)).id) };
  if (o.model) return { scope: 'model', subject: o.model };
  const keys = await s.keys.list();
  const match = /^\d+$/.test(o.key) ? keys.filter((k) => k.id === Number(o.key)) : keys.filter((k) => k.prefix.startsWith(o.key) || o.key.startsWith(k.prefix));
  if (match.length !== 1) throw new UsageError(`--key '${o.key}' must match exactly one key (matched ${match.length})`);
  return { scope: 'key', subject: String(match[0].id) };
}

/** Epoch ms or an ISO-8601 time from a CLI option. */
function timeOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`--${name} must be epoch milliseconds or an ISO-8601 time, got '${value}'`);
  return ms;
}

async function channelIdOf(s: AdminStore, nameOrId: string): Promise<number> {
  if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
  const c = await s.channels.byName(nameOrId);
  if (c === undefined) throw new UsageError(`no channel named '${nameOrId}'`);
  return c.id;
}

const GROUPS: readonly UsageGroupBy[] = ['day', 'hour', 'model', 'user'];
/** Label of a group: the UTC day or hour for time buckets, else the key as is. */
const groupLabel = (by: UsageGroupBy, key: number | string) =>
  by === 'day' ? new Date(Number(key)).toISOString().slice(0, 10) : by === 'hour' ? `${new Date(Number(key)).toISOString().slice(0, 13)}:00Z` : key;

function registerUsageCommands(program: Command, json: (c: Command) => Command): void {
  const usage = program.command('usage').description('usage records and aggregates');
  const filters = (c: Command) => c.option('--user <name>').option('--model <model>').option('--from <time>', 'inclusive; epoch ms or ISO-8601').option('--to <time>', 'exclusive; epoch ms or ISO-8601');
  json(filters(usage.command('list').description('usage records, newest first'))
    .option('--key <id>', 'client key id').option('--channel <nameOrId>').option('--status <code>', 'HTTP status sent to the client')
    .option('--limit <n>', 'records per page (1-1000)', '50').option('--cursor <cursor>', 'next page, as printed after the previous one'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const page = await s.usage.page({
        userId: o.user === undefined ? undefined : (await userByName(s, o.user)).id,
        keyId: intOption(o.key, 'key', 1) ?? undefined,
        model: o.model,
        channelId: o.channel === undefined ? undefined : await channelIdOf(s, o.channel),
        status: intOption(o.status, 'status', 100) ?? undefined,
        from: timeOption(o.from, 'from'),
        to: timeOption(o.to, 'to'),
        cursor: o.cursor,
        limit: intOption(o.limit, 'limit', 1)!,
      });
      const names = await loadNames(s);
      // Names for people; the ids stay in --json for scripts.
      const rows = page.records.map((r) => ({
        id: r.id, time: new Date(r.ts).toISOString(), user: names.user(r.userId), key: names.key(r.keyId), ...(o.json ? { user_id: r.userId, key_id: r.keyId } : {}),
        model: r.model, channel_id: r.channelId, status: r.status,
        prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens, cached: r.cachedTokens, cache_write: r.cacheWriteTokens, reasoning: r.reasoningTokens, cost_micros: r.costMicros, latency_ms: r.latencyMs,
      }));
      if (o.json) return print({ data: rows, next_cursor: page.nextCursor ?? null }, o);
      print(rows, o);
      if (page.nextCursor !== undefined) process.stderr.write(`(more: --cursor ${page.nextCursor})\n`);
    }));
  json(filters(usage.command('stats').description('requests, errors, tokens and cost per UTC day/hour, model or user'))
    .option('--by <group>', `one of ${GROUPS.join(', ')}`, 'day'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const by = o.by as UsageGroupBy;
      if (!GROUPS.includes(by)) throw new UsageError(`--by must be one of ${GROUPS.join(', ')}, got '${o.by}'`);
      const buckets = await s.usage.aggregate({
        groupBy: by,
        userId: o.user === undefined ? undefined : (await userByName(s, o.user)).id,
        model: o.model,
        from: timeOption(o.from, 'from'),
        to: timeOption(o.to, 'to'),
      });
      const names = by === 'user' ? await loadNames(s) : null;
      print(buckets.map((b) => ({
        ...(names === null ? { [by]: groupLabel(by, b.key) } : { user: names.user(Number(b.key)), ...(o.json ? { user_id: b.key } : {}) }), requests: b.requests, errors: b.errors, prompt_tokens: b.promptTokens,
        completion_tokens: b.completionTokens, cached: b.cachedTokens, cache_write: b.cacheWriteTokens, reasoning: b.reasoningTokens, cost_micros: b.costMicros, avg_latency_ms: b.avgLatencyMs,
      })), o);
    }));
}
