/**
 * Rate-limit policies. A policy is identified by (scope, subject): subject is
 * '' for 'global', a user id / key id / model name for the others, and
 * `${userId}:${model}` for 'user_model' (the limiter owns that format; the
 * store only keeps the text). A null limit means "no limit on that axis".
 */
import type { Kysely, Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError } from './errors.ts';
import type { Database, Dialect, LimitPoliciesTable } from './schema.ts';

/** What a policy applies to. */
export type LimitRowScope = 'global' | 'user' | 'key' | 'model' | 'user_model';
const SCOPES: ReadonlySet<string> = new Set<LimitRowScope>(['global', 'user', 'key', 'model', 'user_model']);

/** A stored policy; null limits are unlimited. */
export interface LimitRow {
  id: number;
  scope: LimitRowScope;
  subject: string;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** Input of `LimitRepo.set`. */
export interface LimitInput {
  scope: LimitRowScope;
  subject: string;
  rpm: number | null;
  tpm: number | null;
  concurrency: number | null;
}

/** Input of `LimitRepo.patch`: an absent limit keeps its value, null lifts it. */
export interface LimitPatch {
  scope: LimitRowScope;
  subject: string;
  rpm?: number | null;
  tpm?: number | null;
  concurrency?: number | null;
}

const AXES = ['rpm', 'tpm', 'concurrency'] as const;

function toLimitRow(row: Selectable<LimitPoliciesTable>): LimitRow {
  return {
    id: row.id,
    scope: row.scope as LimitRowScope,
    subject: row.subject,
    rpm: row.rpm,
    tpm: row.tpm,
    concurrency: row.concurrency,
  };
}

function checkLimit(name: string, v: number | null): void {
  if (v !== null && (!Number.isSafeInteger(v) || v < 0)) {
    throw new StoreInputError('invalid', `${name} must be a non-negative integer or null`);
  }
}

function checkKey(scope: string, subject: string): void {
  if (!SCOPES.has(scope)) throw new StoreInputError('invalid', `unknown limit scope "${scope}"`);
  if ((scope === 'global') !== (subject === '')) {
    throw new StoreInputError('invalid', scope === 'global' ? 'a global limit has no subject' : `a ${scope} limit needs a subject`);
  }
}

/** Limit policies. Every mutation appends 'limits' with subject `${scope}:${subject}`. */
export class LimitRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Creates or replaces the policy for (scope, subject). */
  async set(input: LimitInput): Promise<LimitRow> {
    checkKey(input.scope, input.subject);
    checkLimit('rpm', input.rpm);
    checkLimit('tpm', input.tpm);
    checkLimit('concurrency', input.concurrency);
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('limit_policies')
        .values({ scope: input.scope, subject: input.subject, rpm: input.rpm, tpm: input.tpm, concurrency: input.concurrency })
        .onConflict((oc) =>
          oc.columns(['scope', 'subject']).doUpdateSet((eb) => ({
            rpm: eb.ref('excluded.rpm'),
            tpm: eb.ref('excluded.tpm'),
            concurrency: eb.ref('excluded.concurrency'),
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendChange(trx, this.#dialect, 'limits', `${input.scope}:${input.subject}`);
      return toLimitRow(row);
    });
  }

  /**
   * Changes only the limits given, creating the policy when there is none
   * (its other limits then unlimited). One upsert, so concurrent patches of
   * different limits of one policy do not undo each other.
   */
  async patch(input: LimitPatch): Promise<LimitRow> {
    checkKey(input.scope, input.subject);
    const given = AXES.filter((axis) => input[axis] !== undefined);
    if (given.length === 0) throw new StoreInputError('invalid', 'give at least one of rpm, tpm, concurrency');
    for (const axis of given) checkLimit(axis, input[axis]!);
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('limit_policies')
        .values({ scope: input.scope, subject: input.subject, rpm: input.rpm ?? null, tpm: input.tpm ?? null, concurrency: input.concurrency ?? null })
        .onConflict((oc) => oc.columns(['scope', 'subject']).doUpdateSet((eb) => Object.fromEntries(given.map((axis) => [axis, eb.ref(`excluded.${axis}`)]))))
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendChange(trx, this.#dialect, 'limits', `${input.scope}:${input.subject}`);
      return toLimitRow(row);
    });
  }

  /** Removes a policy; false when there was none. */
  remove(scope: LimitRowScope, subject: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx
        .deleteFrom('limit_policies')
        .where('scope', '=', scope)
        .where('subject', '=', subject)
        .executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'limits', `${scope}:${subject}`);
      return true;
    });
  }

  async list(): Promise<LimitRow[]> {
    const rows = await this.#db.selectFrom('limit_policies').selectAll().orderBy('scope').orderBy('subject').execute();
    return rows.map(toLimitRow);
  }
}
