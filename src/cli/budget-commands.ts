/**
 * `tollgate budget set|list|remove`: spend budgets of users and keys (see
 * docs/metering.md). Local or, with --url, through the admin API, like the
 * limit commands; running nodes apply a change through the change feed.
 * What a budget has spent lives in the limiter of the running gateway: the
 * admin API (/admin/budgets), the dashboard and the account API show it.
 */
import type { Command } from 'commander';
import { BUDGET_PERIODS, type BudgetPeriod, type BudgetScope } from '../limiter/budget.ts';
import type { BudgetRow } from '../store/store.ts';
import { print, UsageError, type OutputOptions } from './output.ts';
import { loadNames, type Names } from './names.ts';
import type { AdminStore } from './remote-store.ts';
import { userByName, withStore } from './admin-store.ts';

type Opts = OutputOptions & Record<string, any>;

const budgetRow = (b: BudgetRow, names: Names) => ({
  id: b.id, scope: b.scope, subject: b.scope === 'user' ? names.user(b.subjectId) : names.key(b.subjectId), period: b.period, mode: b.mode, limit_micros: b.limitMicros,
});

/** `--user <name>` or `--key <id or prefix>`: exactly one. */
async function subjectOf(s: AdminStore, o: Opts): Promise<{ scope: BudgetScope; subjectId: number }> {
  if ((o.user === undefined) === (o.key === undefined)) throw new UsageError('give --user <name> or --key <id or prefix>');
  if (o.user !== undefined) return { scope: 'user', subjectId: (await userByName(s, o.user)).id };
  const key: string = o.key;
  const keys = await s.keys.list();
  const match = /^\d+$/.test(key) ? keys.filter((k) => k.id === Number(key)) : keys.filter((k) => k.prefix.startsWith(key) || key.startsWith(k.prefix));
  if (match.length !== 1) throw new UsageError(`--key '${key}' must match exactly one key (matched ${match.length})`);
  return { scope: 'key', subjectId: match[0].id };
}

function periodOf(value: string | undefined): BudgetPeriod {
  if (!BUDGET_PERIODS.includes(value as BudgetPeriod)) throw new UsageError(`--period must be one of ${BUDGET_PERIODS.join(', ')}, got '${value}'`);
  return value as BudgetPeriod;
}

/** Registers `budget …`. */
export function registerBudgetCommands(program: Command): void {
  const budget = program.command('budget').description('spend budgets: micro-credits a user or key may spend per hour, day, week or month (take effect without restart)');
  const subject = (c: Command) => c.option('--user <name>').option('--key <idOrPrefix>', 'a client key id or display prefix').option('--json', 'print JSON for scripts');
  subject(budget.command('set').description('create or replace the budget of a user or key for one period length'))
    .requiredOption('--period <period>', BUDGET_PERIODS.join(' | '))
    .requiredOption('--limit <micros>', 'micro-credits per period (1 credit = 1,000,000; 0 blocks every priced request)')
    .option('--rolling', 'the last hour / 24 h / 7 days / 30 days instead of the calendar period (budgets.timeZone)')
    .action(async (o: Opts, cmd: Command) => {
      const period = periodOf(o.period);
      if (!/^\d{1,16}$/.test(o.limit) || !Number.isSafeInteger(Number(o.limit))) throw new UsageError(`--limit must be an integer ≥ 0 (micro-credits), got '${o.limit}'`);
      return withStore(cmd, async (s) => {
        const row = await s.budgets.set({ ...(await subjectOf(s, o)), period, mode: o.rolling === true ? 'rolling' : 'calendar', limitMicros: Number(o.limit) });
        print(budgetRow(row, await loadNames(s)), o);
      });
    });
  subject(budget.command('list').description('list budgets (all, or of one user or key)'))
    .action(async (o: Opts, cmd: Command) => withStore(cmd, async (s) => {
      const filter = o.user === undefined && o.key === undefined ? {} : await subjectOf(s, o);
      const names = await loadNames(s);
      print((await s.budgets.list(filter)).map((b) => budgetRow(b, names)), o);
    }));
  subject(budget.command('remove').description('remove the budget of a user or key for one period length'))
    .requiredOption('--period <period>', BUDGET_PERIODS.join(' | '))
    .action(async (o: Opts, cmd: Command) => {
      const period = periodOf(o.period);
      return withStore(cmd, async (s) => {
        const who = await subjectOf(s, o);
        const found = (await s.budgets.list(who)).find((b) => b.period === period);
        print({ scope: who.scope, subject_id: who.subjectId, period, removed: found === undefined ? false : await s.budgets.remove(found.id) }, o);
      });
    });
}
