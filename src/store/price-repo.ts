/**
 * Prices per million tokens, in micro-credits. A price with `channelId` null
 * applies to the model on any channel that has no channel-specific price.
 */
import { sql, type Kysely, type Selectable } from 'kysely';
import { appendChange } from './change-feed.ts';
import { StoreInputError, isForeignKeyViolation } from './errors.ts';
import type { Database, Dialect, PricesTable } from './schema.ts';

/** A stored price; `channelId` null means any channel. */
export interface StoredPrice {
  id: number;
  model: string;
  channelId: number | null;
  inputMicrosPerMTok: number;
  outputMicrosPerMTok: number;
  /** Cached prompt tokens; null: the input price. */
  cachedInputMicrosPerMTok: number | null;
  /** Prompt tokens written to the cache; null: the input price. */
  cacheWriteMicrosPerMTok: number | null;
  /** Reasoning tokens; null: the output price. */
  reasoningMicrosPerMTok: number | null;
  free: boolean;
}

/** Input of `PriceRepo.set`; `channelId` absent or null means any channel; absent kind prices are null. */
export interface PriceInput {
  model: string;
  channelId?: number | null;
  inputMicrosPerMTok: number;
  outputMicrosPerMTok: number;
  cachedInputMicrosPerMTok?: number | null;
  cacheWriteMicrosPerMTok?: number | null;
  reasoningMicrosPerMTok?: number | null;
  free: boolean;
}

function toPrice(row: Selectable<PricesTable>): StoredPrice {
  return {
    id: row.id,
    model: row.model,
    channelId: row.channel_id,
    inputMicrosPerMTok: row.input_micros_per_mtok,
    outputMicrosPerMTok: row.output_micros_per_mtok,
    cachedInputMicrosPerMTok: row.cached_input_micros_per_mtok === null ? null : Number(row.cached_input_micros_per_mtok),
    cacheWriteMicrosPerMTok: row.cache_write_micros_per_mtok === null ? null : Number(row.cache_write_micros_per_mtok),
    reasoningMicrosPerMTok: row.reasoning_micros_per_mtok === null ? null : Number(row.reasoning_micros_per_mtok),
    free: row.free === 1,
  };
}

function checkMicros(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new StoreInputError('invalid', `${name} must be a non-negative integer`);
}

/** Model prices. */
export class PriceRepo {
  readonly #db: Kysely<Database>;
  readonly #dialect: Dialect;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Creates or replaces the price of (model, channel); appends 'prices'. */
  async set(input: PriceInput): Promise<StoredPrice> {
    checkMicros('inputMicrosPerMTok', input.inputMicrosPerMTok);
    checkMicros('outputMicrosPerMTok', input.outputMicrosPerMTok);
    for (const kind of ['cachedInputMicrosPerMTok', 'cacheWriteMicrosPerMTok', 'reasoningMicrosPerMTok'] as const) {
      const v = input[kind];
      if (v !== undefined && v !== null) checkMicros(kind, v);
    }
    const channelId = input.channelId ?? null;
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('prices')
          .values({
            model: input.model,
            channel_id: channelId,
            input_micros_per_mtok: input.inputMicrosPerMTok,
            output_micros_per_mtok: input.outputMicrosPerMTok,
            cached_input_micros_per_mtok: input.cachedInputMicrosPerMTok ?? null,
            cache_write_micros_per_mtok: input.cacheWriteMicrosPerMTok ?? null,
            reasoning_micros_per_mtok: input.reasoningMicrosPerMTok ?? null,
            free: input.free ? 1 : 0,
          })
          // Must repeat the expression of the unique index prices_model_channel
          // (see migrations.ts) to be inferred as the conflict target; both
          // dialects accept an expression here.
          .onConflict((oc) =>
            oc.expression(sql`model, coalesce(channel_id, 0)`).doUpdateSet((eb) => ({
              input_micros_per_mtok: eb.ref('excluded.input_micros_per_mtok'),
              output_micros_per_mtok: eb.ref('excluded.output_micros_per_mtok'),
              cached_input_micros_per_mtok: eb.ref('excluded.cached_input_micros_per_mtok'),
              cache_write_micros_per_mtok: eb.ref('excluded.cache_write_micros_per_mtok'),
              reasoning_micros_per_mtok: eb.ref('excluded.reasoning_micros_per_mtok'),
              free: eb.ref('excluded.free'),
            })),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendChange(trx, this.#dialect, 'prices', input.model);
        return toPrice(row);
      });
    } catch (err) {
      if (isForeignKeyViolation(err)) throw new StoreInputError('not_found', `no channel with id ${String(channelId)}`);
      throw err;
    }
  }

  /** Removes the price of (model, channel); false when there was none. */
  remove(model: string, channelId: number | null = null): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const res = await trx
        .deleteFrom('prices')
        .where('model', '=', model)
        .where('channel_id', channelId === null ? 'is' : '=', channelId)
        .executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await appendChange(trx, this.#dialect, 'prices', model);
      return true;
    });
  }

  async list(): Promise<StoredPrice[]> {
    const rows = await this.#db.selectFrom('prices').selectAll().orderBy('model').orderBy('id').execute();
    return rows.map(toPrice);
  }
}
