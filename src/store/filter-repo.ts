/**
 * Response filter rules (src/filters/). Every mutation appends a 'filters'
 * change event, so every node rebuilds its FilterBook within one poll. The
 * table is declared here and widened onto the store's Kysely instance, like
 * the service route tables.
 */
import type { Generated, Kysely, Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError } from './errors.ts';
import type { Database, Dialect } from './schema.ts';
import { ruleProblem, type FilterKind, type FilterRuleInput, type FilterRuleSpec, type FilterScope } from '../filters/filter-rules.ts';

/** Table `response_filters`. */
export interface ResponseFiltersTable {
  id: Generated<number>;
  scope: string;
  subject: string;
  kind: string;
  pattern: string;
  replacement: string | null;
  max_length: number;
  created_at: number;
}

type FilterTables = { response_filters: ResponseFiltersTable };

function toSpec(row: Selectable<ResponseFiltersTable>): FilterRuleSpec {
  return {
    id: Number(row.id),
    scope: row.scope as FilterScope,
    subject: row.subject,
    kind: row.kind as FilterKind,
    pattern: row.pattern,
    replacement: row.replacement,
    maxLength: row.max_length,
  };
}

export class FilterRepo {
  readonly #db: Kysely<Database & FilterTables>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db.withTables<FilterTables>();
    this.#dialect = dialect;
  }

  /** Adds a rule; StoreInputError('invalid') names what is wrong with it. */
  async add(input: FilterRuleInput): Promise<FilterRuleSpec> {
    const problem = ruleProblem(input);
    if (problem !== null) throw new StoreInputError('invalid', problem);
    return this.#db.transaction().execute(async (trx) => {
      const row = await trx.insertInto('response_filters').values({
        scope: input.scope,
        subject: input.subject,
        kind: input.kind,
        pattern: input.kind === 'strip_thinking' ? '' : input.pattern,
        replacement: input.replacement,
        max_length: input.kind === 'literal' ? input.pattern.length : input.maxLength,
        created_at: Date.now(),
      }).returningAll().executeTakeFirstOrThrow();
      await appendChange(trx as unknown as Kysely<Database>, this.#dialect, 'filters', String(row.id));
      return toSpec(row);
    });
  }

  /** Removes a rule; false when there was none. */
  remove(id: number): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('response_filters').where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await appendChange(trx as unknown as Kysely<Database>, this.#dialect, 'filters', String(id));
      return true;
    });
  }

  async list(): Promise<FilterRuleSpec[]> {
    const rows = await this.#db.selectFrom('response_filters').selectAll().orderBy('id').execute();
    return rows.map(toSpec);
  }
}
