/**
 * Read-only admin routes behind the dashboard's charts: usage per time step
 * (requests, errors, tokens, cost, latency and TTFT percentiles) and per
 * upstream channel. They are `AdminRoute` descriptors like the rest of
 * /admin, registered with the same
 * admin-token guard, validators and error shape: they are part of ADMIN_ROUTES
 * (and so of /admin/openapi.json).
 */
import type { Distribution } from '../store/latency-histogram.ts';
import { MAX_SERIES_POINTS, channelUsage, usageSeries, type UsageFigures } from '../store/usage-series.ts';
import { AdminError, AdminErrors, checkRange, int, object, parseTime, str, timeParam, type AdminRoute } from './admin-schema.ts';

/** Step names accepted by `step`, in ms. */
export const STEPS: Readonly<Record<string, number>> = { '1m': 60_000, '5m': 300_000, '15m': 900_000, '1h': 3_600_000, '6h': 21_600_000, '1d': 86_400_000 };
/** Without `step`, the smallest step that keeps a series at most this long. */
const AUTO_POINTS = 360;
const HOUR_MS = 3_600_000;

/** The figures of a step, a channel or a range as the API shows them. */
export interface UsageFiguresView {
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  latency_ms: Distribution | null;
  ttft_ms: Distribution | null;
}

function figuresView(f: UsageFigures): UsageFiguresView {
  return { requests: f.requests, errors: f.errors, prompt_tokens: f.promptTokens, completion_tokens: f.completionTokens, cost_micros: f.costMicros, latency_ms: f.latency, ttft_ms: f.ttft };
}

function range(query: Record<string, any>): { from: number; to: number } {
  const to = parseTime(query.to, 'to') ?? Date.now();
  const from = parseTime(query.from, 'from') ?? to - HOUR_MS;
  checkRange(from, to);
  return { from, to };
}

function stepFor(span: number, name: string | undefined): number {
  if (name !== undefined) {
    const ms = STEPS[name];
    if (Math.ceil(span / ms) + 1 > MAX_SERIES_POINTS) throw new AdminError(AdminErrors.badQuery, `Invalid query parameter: 'step' ${name} gives more than ${MAX_SERIES_POINTS} points for this range; pick a larger step or a shorter range.`, 'step');
    return ms;
  }
  const steps = Object.values(STEPS);
  return steps.find((ms) => span / ms <= AUTO_POINTS) ?? steps[steps.length - 1];
}

const DIST = {
  type: ['object', 'null'],
  description: 'ms; p50/p95/p99 estimated from bins (exact below 10 ms, within a 20%-wide bin above), count/avg/max exact',
  properties: { count: { type: 'integer' }, avg: { type: 'number' }, p50: { type: 'integer' }, p95: { type: 'integer' }, p99: { type: 'integer' }, max: { type: 'integer' } },
};
const FIGURES = {
  requests: { type: 'integer' }, errors: { type: 'integer' }, prompt_tokens: { type: 'integer' }, completion_tokens: { type: 'integer' },
  cost_micros: { type: 'integer' }, latency_ms: DIST, ttft_ms: DIST,
};

/** The time-series and per-channel usage routes. */
export const TIMESERIES_ROUTES: readonly AdminRoute[] = [
  {
    method: 'GET', url: '/admin/usage/timeseries', operationId: 'usageTimeseries', tag: 'usage', status: 200,
    summary: 'Usage per time step (dense, oldest first): requests, errors, tokens, cost, latency and TTFT percentiles; default the last hour',
    querystring: object({
      from: timeParam('inclusive lower bound, widened to a whole step (default: an hour before to)'),
      to: timeParam('exclusive upper bound, widened to a whole step (default: now)'),
      step: { type: 'string', enum: Object.keys(STEPS), description: `step width; default: the smallest giving at most ${AUTO_POINTS} points` },
      user_id: int(1),
      model: str(200),
    }),
    response: {
      type: 'object',
      properties: {
        object: { const: 'usage_timeseries' }, from: { type: 'integer' }, to: { type: 'integer' }, step_ms: { type: 'integer' },
        data: { type: 'array', items: { type: 'object', properties: { ts: { type: 'integer', description: 'step start, epoch ms' }, ...FIGURES } } },
        totals: { type: 'object', properties: FIGURES },
      },
      required: ['object', 'from', 'to', 'step_ms', 'data', 'totals'],
    },
    async handler({ query }, ctx) {
      const { from, to } = range(query);
      const stepMs = stepFor(to - from, query.step);
      const s = await usageSeries(ctx.store.db, { from, to, stepMs, userId: query.user_id, model: query.model });
      return {
        object: 'usage_timeseries', from: s.from, to: s.to, step_ms: s.stepMs,
        data: s.points.map((p) => ({ ts: p.ts, ...figuresView(p) })),
        totals: figuresView(s.totals),
      };
    },
  },
  {
    method: 'GET', url: '/admin/usage/channels', operationId: 'usageByChannel', tag: 'usage', status: 200,
    summary: 'Usage per upstream channel (most requests first), with latency percentiles and the last error; default the last hour',
    querystring: object({ from: timeParam('inclusive lower bound (default: an hour before to)'), to: timeParam('exclusive upper bound (default: now)') }),
    response: {
      type: 'object',
      properties: {
        object: { const: 'list' },
        data: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              channel_id: { type: ['integer', 'null'], description: '0 is the built-in mock; null: the request reached no channel' },
              name: { type: ['string', 'null'] }, ...FIGURES,
              last_ts: { type: 'integer' }, last_error_ts: { type: ['integer', 'null'] },
            },
          },
        },
      },
      required: ['object', 'data'],
    },
    async handler({ query }, ctx) {
      const { from, to } = range(query);
      const [rows, stored] = await Promise.all([channelUsage(ctx.store.db, { from, to }), ctx.store.channels.listFull()]);
      // The live route table also knows the built-in mock channel, which is not stored.
      const names = new Map<number, string>([...stored.map((c) => [c.id, c.name] as const), ...ctx.gw.routes.channels.map((c) => [c.id, c.name] as const)]);
      return {
        object: 'list',
        data: rows.map((r) => ({
          channel_id: r.channelId, name: r.channelId === null ? null : names.get(r.channelId) ?? null, ...figuresView(r),
          last_ts: r.lastTs, last_error_ts: r.lastErrorTs,
        })),
      };
    },
  },
];
