/**
 * Admin routes for the usage log: records filtered by user, key, model,
 * channel, status and time with cursor pagination (newest first), and
 * aggregates per UTC day/hour, model or user.
 */
import { StoreInputError } from '../store/store.ts';
import { AdminError, AdminErrors, checkRange, int, object, parseTime, ref, str, timeParam, type AdminRoute } from './admin-schema.ts';
import { usageBucketView, usageRecordView, usageTotalsView } from './admin-views.ts';

const PAGE_MAX = 1000;

/** Usage records and aggregates. */
export const USAGE_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/usage', operationId: 'listUsage', tag: 'usage', status: 200,
    response: {
      type: 'object',
      properties: { object: { const: 'list' }, data: { type: 'array', items: ref('UsageRecord') }, next_cursor: { type: ['string', 'null'] }, has_more: { type: 'boolean' } },
      required: ['object', 'data', 'next_cursor', 'has_more'],
    },
    summary: 'Usage records, newest first, one page at a time (pass next_cursor as cursor)',
    querystring: object({
      user_id: int(1),
      key_id: int(1),
      model: str(200),
      channel_id: int(0, Number.MAX_SAFE_INTEGER, '0 is the built-in mock channel'),
      status: int(100, 599, 'HTTP status sent to the client'),
      from: timeParam('inclusive lower bound'),
      to: timeParam('exclusive upper bound'),
      cursor: str(48, 'next_cursor of the previous page'),
      limit: int(1, PAGE_MAX, 'page size, default 100'),
    }),
    async handler({ query }, ctx) {
      const from = parseTime(query.from, 'from');
      const to = parseTime(query.to, 'to');
      checkRange(from, to);
      const page = await ctx.store.usage.page({
        userId: query.user_id, keyId: query.key_id, model: query.model, channelId: query.channel_id, status: query.status,
        from, to, cursor: query.cursor, limit: query.limit ?? 100,
      }).catch((err: unknown) => {
        // Every other field was validated by the schema: only the cursor is left to be malformed.
        if (err instanceof StoreInputError) throw new AdminError(AdminErrors.badQuery, "Invalid query parameter: 'cursor' is malformed.", 'cursor');
        throw err;
      });
      return { object: 'list', data: page.records.map(usageRecordView), next_cursor: page.nextCursor ?? null, has_more: page.nextCursor !== undefined };
    },
  },
  {
    method: 'GET', url: '/admin/usage/stats', operationId: 'usageStats', tag: 'usage', status: 200,
    response: {
      type: 'object',
      properties: {
        object: { const: 'list' },
        group_by: { type: 'string' },
        data: { type: 'array', items: ref('UsageBucket') },
        totals: ref('UsageTotals'),
      },
      required: ['object', 'group_by', 'data', 'totals'],
    },
    summary: 'Requests, errors, tokens, cost and mean latency per UTC day or hour (key: bucket start, epoch ms), per model, or per user',
    querystring: object({
      group_by: { type: 'string', enum: ['day', 'hour', 'model', 'user'], default: 'day' },
      from: timeParam('inclusive lower bound'),
      to: timeParam('exclusive upper bound'),
      user_id: int(1),
      model: str(200),
    }),
    async handler({ query }, ctx) {
      const from = parseTime(query.from, 'from');
      const to = parseTime(query.to, 'to');
      checkRange(from, to);
      const filter = { userId: query.user_id, model: query.model, from, to };
      const [buckets, totals] = await Promise.all([
        ctx.store.usage.aggregate({ groupBy: query.group_by, ...filter }),
        ctx.store.usage.totals(filter),
      ]);
      return {
        object: 'list',
        group_by: query.group_by,
        data: buckets.map(usageBucketView),
        totals: usageTotalsView(totals),
      };
    },
  },
];
