/**
 * The account API for key holders: their balance and their usage records.
 * Authenticated with the same key (and cache) as the client API. Fields are
 * snake_case, records in the same shape as the admin API's usage view.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors, errorBody } from '../errors.ts';
import { identifyCaller } from '../gateway/authenticate.ts';
import type { KeyIdentity } from '../keys/key-cache.ts';
import type { Gateway } from '../gateway/gateway.ts';
import { StoreInputError, type Store } from '../store/store.ts';
import { AdminError, checkRange, parseTime } from './admin-schema.ts';
import { usageRecordView, usageTotalsView } from './admin-views.ts';

const MAX_PAGE = 1000;

async function caller(gw: Gateway, req: FastifyRequest, reply: FastifyReply): Promise<KeyIdentity | null> {
  const identity = await identifyCaller(gw, req.raw, Date.now());
  if ('status' in identity) {
    if (identity === Errors.storeUnavailable) reply.header('retry-after', '1');
    reply.code(identity.status).type('application/json').send(errorBody(identity));
    return null;
  }
  return identity;
}

function badQuery(reply: FastifyReply, message: string, param: string) {
  return reply.code(400).type('application/json').send(errorBody(Errors.badQuery, message, param));
}

export function registerAccountRoutes(app: FastifyInstance, gw: Gateway, store: Store): void {
  app.get('/api/v1/balance', async (req, reply) => {
    const who = await caller(gw, req, reply);
    if (who === null) return reply;
    const snap = await gw.credits.snapshot(who.userId);
    return { object: 'balance', user_id: who.userId, balance_micros: snap.balanceMicros, reserved_micros: snap.reservedMicros, available_micros: snap.balanceMicros - snap.reservedMicros };
  });

  app.get('/api/v1/usage', async (req, reply) => {
    const who = await caller(gw, req, reply);
    if (who === null) return reply;
    const q = req.query as Record<string, string | undefined>;
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) return badQuery(reply, `'limit' must be an integer from 1 to ${MAX_PAGE}.`, 'limit');
    let from: number | undefined;
    let to: number | undefined;
    try {
      from = parseTime(q.from === '' ? undefined : q.from, 'from');
      to = parseTime(q.to === '' ? undefined : q.to, 'to');
      checkRange(from, to);
    } catch (err) {
      if (err instanceof AdminError) return badQuery(reply, err.message, err.param ?? 'from');
      throw err;
    }
    const model = q.model === undefined || q.model === '' ? undefined : q.model;
    try {
      const [page, totals] = await Promise.all([
        store.usage.page({ userId: who.userId, model, from, to, cursor: q.cursor, limit }),
        store.usage.totals({ userId: who.userId, model, from, to }),
      ]);
      const nextCursor = page.nextCursor ?? null;
      return {
        object: 'list',
        data: page.records.map(usageRecordView),
        next_cursor: nextCursor,
        has_more: nextCursor !== null,
        totals: usageTotalsView(totals),
      };
    } catch (err) {
      if (err instanceof StoreInputError) return badQuery(reply, err.message, 'cursor');
      throw err;
    }
  });
}
