/**
 * The operator dashboard at /dashboard/: a static page (no data in it, so it
 * is served without the token) whose scripts ask for the admin token, keep it
 * in sessionStorage and read everything through the token-guarded /admin and
 * /api/metrics routes (the charts' time series are admin routes, see
 * src/admin/admin-timeseries.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Gateway } from '../../gateway/gateway.ts';
import type { AdminDeps } from '../admin-routes.ts';
import { loadDashboardAssets, type DashboardAsset } from './dashboard-assets.ts';

/**
 * Scripts and styles only from this origin (uPlot included), no inline
 * script, no framing; API calls only to this origin.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

function send(a: DashboardAsset, req: FastifyRequest, reply: FastifyReply, page: boolean) {
  reply.header('cache-control', a.cacheControl).header('etag', a.etag).header('x-content-type-options', 'nosniff');
  if (page) reply.headers(PAGE_HEADERS);
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.contentType).send(a.body);
}

/** Registers /dashboard/ (page, scripts, styles, vendored uPlot). */
export function registerDashboard(app: FastifyInstance, gw: Gateway, deps: AdminDeps): void {
  const assets = loadDashboardAssets();
  // Relative URLs in the page (scripts, ../admin/…) need the trailing slash;
  // a relative Location keeps any path prefix a reverse proxy adds.
  app.get('/dashboard', (_req, reply) => reply.redirect('dashboard/', 301));
  for (const [path, a] of assets) {
    const page = path === '';
    app.get(`/dashboard/${path}`, (req, reply) => send(a, req, reply, page));
  }
}
