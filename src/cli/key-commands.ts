/**
 * `tollgate key create|list|update|revoke`: client keys and their rules
 * (expiry, model allow-list, client address allow-list), on the local store
 * or through the admin API (--url). Running servers apply a rule change the
 * way they apply a revocation: through the change feed, at once with Redis.
 */
import type { Command } from 'commander';
import { parseExpiry, splitCidrList } from '../keys/key-rules.ts';
import type { KeyRulesPatch } from '../store/store.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { loadNames, type Names } from './names.ts';
import { userByName, withStore } from './admin-store.ts';
import type { KeyInfo } from './remote-store.ts';

type Opts = OutputOptions & Record<string, any>;

const EXPIRES = 'a duration from now (12h, 30d, 2w; units s m h d w) or an ISO-8601 date or time (2027-01-31, 2027-01-31T12:00:00Z)';
const MODELS = 'comma-separated: the only models the key may use (others get 403 model_not_allowed)';
const CACHE = "the key's model requests use the response cache without asking (when cache.enabled; see docs/cache.md)";
const IPS = 'comma-separated CIDRs, IPv4 or IPv6 (e.g. 10.0.0.0/8,::1/128): the only client addresses the key works from (403 ip_not_allowed)';

/** The rules the flags give; a bad value or two flags that contradict each other are usage errors (exit 2). */
function rulesFrom(o: Opts, now: number): KeyRulesPatch {
  const rules: KeyRulesPatch = {};
  if (o.expires === false) rules.expiresAt = null;
  else if (o.expires !== undefined) {
    const at = parseExpiry(String(o.expires), now);
    if (at === null) throw new UsageError(`--expires must be ${EXPIRES}, got '${o.expires}'`);
    if (at <= now) throw new UsageError(`--expires '${o.expires}' is in the past (to stop a key now: tollgate key revoke)`);
    rules.expiresAt = at;
  }
  if (o.models !== undefined && o.allModels === true) throw new UsageError('give --models or --all-models, not both');
  if (o.allModels === true) rules.models = null;
  else if (o.models !== undefined) {
    const models = [...new Set(String(o.models).split(',').map((m) => m.trim()).filter((m) => m !== ''))];
    if (models.length === 0) throw new UsageError('--models needs at least one model');
    rules.models = models;
  }
  if (o.ips !== undefined && o.anyIp === true) throw new UsageError('give --ips or --any-ip, not both');
  if (o.anyIp === true) rules.ips = null;
  else if (o.ips !== undefined) {
    const parsed = splitCidrList(String(o.ips));
    if ('bad' in parsed) throw new UsageError(`--ips: '${parsed.bad}' is not a CIDR such as 10.0.0.0/8 or ::1/128`);
    if (parsed.cidrs.length === 0) throw new UsageError('--ips needs at least one CIDR');
    rules.ips = parsed.cidrs;
  }
  if (o.cache !== undefined) rules.cache = o.cache === true;
  return rules;
}

/** A key as lists print it: the rules readable in the table, as stored in --json. */
function keyRow(k: KeyInfo, names: Names, json: boolean, now: number) {
  const base = { id: k.id, user: names.user(k.userId), ...(json ? { user_id: k.userId } : {}), name: k.name, prefix: k.prefix, revoked: k.revokedAt !== null };
  if (json) return { ...base, expires_at: k.expiresAt, models: k.models, ips: k.ips, cache: k.cache };
  const expires = k.expiresAt === null ? 'never' : `${new Date(k.expiresAt).toISOString()}${k.expiresAt <= now ? ' (expired)' : ''}`;
  return { ...base, expires, models: k.models ?? 'all', ips: k.ips ?? 'any', cache: k.cache ? 'on' : 'ask' };
}

/** `digits` is a key id, anything else a display prefix. */
const keyTarget = (text: string): number | string => (/^\d+$/.test(text) ? Number(text) : text);

export function registerKeyCommands(program: Command, json: (c: Command) => Command): void {
  const key = program.command('key').description('manage client API keys');
  json(key.command('create').description('create a key; it is printed once and stored only as a hash').requiredOption('--user <name>').option('--name <label>', 'a label for the key', 'default')
    .option('--expires <when>', `when the key stops working: ${EXPIRES}`).option('--models <list>', MODELS).option('--ips <list>', IPS)
    .option('--cache', CACHE))
    .action(async (o: Opts, cmd: Command) => {
      const rules = rulesFrom(o, Date.now());
      return withStore(cmd, async (s) => {
        const u = await userByName(s, o.user);
        const { key: k, secret } = await s.keys.create(u.id, o.name, rules);
        if (o.json) return print({ id: k.id, user: u.name, name: k.name, prefix: k.prefix, expires_at: k.expiresAt, models: k.models, ips: k.ips, cache: k.cache, key: secret }, o);
        process.stdout.write(`${secret}\n(key ${k.id} for ${u.name}; shown once — store it now)\n`);
        const limits = [k.expiresAt === null ? '' : `expires ${new Date(k.expiresAt).toISOString()}`, k.models === null ? '' : `models ${k.models.join(',')}`, k.ips === null ? '' : `from ${k.ips.join(',')}`, k.cache ? 'response cache on' : ''].filter((x) => x !== '');
        if (limits.length > 0) process.stdout.write(`(${limits.join('; ')})\n`);
      });
    });
  json(key.command('list').description('list keys (prefix only) with their expiry, models and client addresses').option('--user <name>'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const keys = o.user ? await s.keys.listByUser((await userByName(s, o.user)).id) : await s.keys.list();
      const names = await loadNames(s);
      const now = Date.now();
      print(keys.map((k) => keyRow(k, names, o.json === true, now)), o);
    }));
  json(key.command('update').description("change a live key's expiry, models or client addresses; running servers apply it from their next request")
    .requiredOption('--key <idOrPrefix>', 'key id or display prefix')
    .option('--expires <when>', EXPIRES).option('--no-expires', 'never expire')
    .option('--models <list>', MODELS).option('--all-models', 'allow every model')
    .option('--ips <list>', IPS).option('--any-ip', 'allow any client address')
    .option('--cache', CACHE).option('--no-cache', 'its requests use the response cache only when they ask (x-tollgate-cache)'))
    .action(async (o: Opts, cmd: Command) => {
      const rules = rulesFrom(o, Date.now());
      if (Object.keys(rules).length === 0) throw new UsageError('give at least one of --expires/--no-expires, --models/--all-models, --ips/--any-ip, --cache/--no-cache');
      return withStore(cmd, async (s) => {
        const k = await s.keys.update(keyTarget(o.key), rules);
        if (k === undefined) throw new UsageError(`no live key matches '${o.key}'`);
        print(keyRow(k, await loadNames(s), o.json === true, Date.now()), o);
      });
    });
  json(key.command('revoke').description('revoke a key by id or prefix').argument('<idOrPrefix>'))
    .action(async (target: string, o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const ok = await s.keys.revoke(keyTarget(target));
      if (!ok) throw new UsageError(`no live key matches '${target}'`);
      print({ revoked: target }, o);
    }));
}
