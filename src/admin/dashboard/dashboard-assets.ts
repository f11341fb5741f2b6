/**
 * The dashboard's static files, read once at start-up: the page, its
 * scripts and styles from `src/admin/dashboard/public/` (plain browser JS, served
 * from the source tree so there is no bundling step), and uPlot from
 * node_modules. Nothing is fetched from anywhere else, so the dashboard works
 * without internet access.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file ready to send. */
export interface DashboardAsset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly cacheControl: string;
  /** Strong validator for conditional requests. */
  readonly etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Our own files change with each release: revalidate (cheap, by ETag) every time. */
const REVALIDATE = 'no-cache';
/** Vendor files are requested with `?v=<version>`, so an upgrade changes the URL. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Where `public/` is: next to this module when run from source, or back in
 * the source tree when run compiled from dist/src/admin/dashboard/ (tsc copies no
 * assets, and `npm ci && npm start` runs the compiled code).
 */
function publicDir(): string {
  const candidates = [new URL('./public/', import.meta.url), new URL('../../../../src/admin/dashboard/public/', import.meta.url)].map((u) => fileURLToPath(u));
  const found = candidates.find((dir) => existsSync(join(dir, 'index.html')));
  if (found === undefined) throw new Error(`dashboard assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

function asset(body: Buffer, name: string, cacheControl: string): DashboardAsset {
  const contentType = TYPES[extname(name)];
  if (contentType === undefined) throw new Error(`dashboard asset ${name}: unknown type`);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType, cacheControl, etag };
}

/**
 * Loads every asset, keyed by its path under /dashboard/ ('' is the page).
 * Throws when a file is missing: a broken install should fail at start, not
 * on the first visit.
 */
export function loadDashboardAssets(): Map<string, DashboardAsset> {
  const require = createRequire(import.meta.url);
  const uplotJs = require.resolve('uplot/dist/uPlot.iife.min.js');
  const uplotCss = require.resolve('uplot/dist/uPlot.min.css');
  const uplotVersion = (JSON.parse(readFileSync(require.resolve('uplot/package.json'), 'utf8')) as { version: string }).version;

  const dir = publicDir();
  const assets = new Map<string, DashboardAsset>();
  for (const name of readdirSync(dir)) {
    if (TYPES[extname(name)] === undefined) continue;
    let body = readFileSync(join(dir, name));
    if (name === 'index.html') body = Buffer.from(body.toString('utf8').replaceAll('{{UPLOT_VERSION}}', encodeURIComponent(uplotVersion)));
    assets.set(name === 'index.html' ? '' : name, asset(body, name, REVALIDATE));
  }
  if (!assets.has('')) throw new Error(`dashboard assets: ${dir}index.html missing`);
  assets.set('vendor/uplot.min.js', asset(readFileSync(uplotJs), uplotJs, IMMUTABLE));
  assets.set('vendor/uplot.min.css', asset(readFileSync(uplotCss), uplotCss, IMMUTABLE));
  return assets;
}
