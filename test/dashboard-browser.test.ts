/**
 * The dashboard in a real browser: headless Chromium (the Debian package)
 * driven by playwright-core against a real gateway. Signs in (a wrong token
 * first), checks the tiles and charts show the requests just sent, creates a
 * user and a key through the forms, uses the key, revokes it through the UI
 * and sees it refused, then sees a service's calls in the services tab. Screenshots go to test-artifacts/.
 *
 * The browser test is skipped only when /usr/bin/chromium is missing (.ci/run
 * installs it); the first test (the page's assets and the time-series admin
 * routes it reads) needs no browser and always runs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { request } from 'undici';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startTestService } from './support/service-upstream.ts';

const CHROMIUM = '/usr/bin/chromium';
/** No internet here and we run as root: no sandbox, nothing phoning home. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

async function chat(fx: Fixture, key: string, stream = false): Promise<number> {
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', stream, messages: [{ role: 'user', content: 'Hello from the dashboard test' }], max_tokens: 8 }),
  });
  await res.body.text();
  return res.statusCode;
}

async function admin(fx: Fixture, method: 'PUT' | 'POST', path: string, body: unknown): Promise<void> {
  const res = await request(`${fx.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.statusCode, 200, await res.body.text());
}

/** Waits until the batched writer has stored `n` usage records (it flushes every 50 ms). */
async function waitForRecords(fx: Fixture, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const res = await request(`${fx.url}/admin/usage/stats?group_by=model`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await res.body.json()) as { totals: { requests: number } };
    if (body.totals.requests >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`usage records never reached ${n}`);
}

const text = (page: Page, selector: string) => page.locator(selector).innerText();

/** Waits for a tile's value to read `value` (the page loads asynchronously after sign-in). */
async function waitForTile(page: Page, id: string, value: string): Promise<void> {
  await page.waitForFunction(([i, v]) => document.querySelector(`#${i} .value`)?.textContent === v, [id, value] as const);
}

async function get(fx: Fixture, path: string, headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }) {
  const res = await request(`${fx.url}${path}`, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text: body, json: () => JSON.parse(body) };
}

test('dashboard assets and time-series routes', async (t) => {
  const fx = await startFixture();
  t.after(() => fx.close());

  await t.test('the page and its assets are served without the token, with safe headers', async () => {
    const redirect = await get(fx, '/dashboard', {});
    assert.equal(redirect.status, 301);
    assert.equal(new URL(String(redirect.headers.location), `${fx.url}/dashboard`).pathname, '/dashboard/');
    const page = await get(fx, '/dashboard/', {});
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.text, /vendor\/uplot\.min\.js\?v=\d/);
    assert.ok(!page.text.includes(ADMIN_TOKEN));
    const uplot = await get(fx, '/dashboard/vendor/uplot.min.js', {});
    assert.equal(uplot.status, 200);
    assert.match(String(uplot.headers['cache-control']), /immutable/);
    const app = await get(fx, '/dashboard/app.js', {});
    assert.match(String(app.headers['content-type']), /^text\/javascript/);
    assert.equal((await get(fx, '/dashboard/app.js', { 'if-none-match': String(app.headers.etag) })).status, 304);
    assert.equal((await get(fx, '/dashboard/../package.json', {})).status, 404);
  });

  await t.test('both routes need the admin token', async () => {
    for (const path of ['/admin/usage/timeseries', '/admin/usage/channels']) {
      assert.equal((await get(fx, path, {})).status, 401);
      assert.equal((await get(fx, path, { authorization: 'Bearer wrong-token-0123456789' })).status, 401);
    }
  });

  // Known latencies at a fixed past hour: 1..9 ms (exact) in the first minute, 10..100 ms in the second.
  const base = Date.UTC(2024, 0, 1, 12);
  const row = (i: number, ts: number, latency: number) => ({
    request_id: `ts-${i}`, ts, user_id: fx.userId, key_id: fx.keyId, model: latency < 10 ? 'small' : 'large', channel_id: 0, channel_key_id: 0,
    status: latency === 100 ? 502 : 200, outcome: 'ok' as const, attempts: 1, latency_ms: latency, ttft_ms: latency % 2 === 0 ? latency : null,
    prompt_tokens: 3, completion_tokens: 2, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, cost_micros: 10, error_class: null,
  });
  const rows = [...Array.from({ length: 9 }, (_, i) => row(i, base + i, i + 1)), ...Array.from({ length: 91 }, (_, i) => row(100 + i, base + 60_000 + i, i + 10))];
  await fx.tg.store.db.insertInto('usage_records').values(rows).execute();

  await t.test('a dense series with sums and percentiles per step', async () => {
    const r = await get(fx, `/admin/usage/timeseries?from=${base}&to=${base + 300_000}&step=1m`);
    assert.equal(r.status, 200, r.text);
    const body = r.json();
    assert.equal(body.object, 'usage_timeseries');
    assert.equal(body.step_ms, 60_000);
    assert.deepEqual(body.data.map((p: { ts: number }) => p.ts), [0, 1, 2, 3, 4].map((i) => base + i * 60_000));
    assert.deepEqual(body.data.map((p: { requests: number }) => p.requests), [9, 91, 0, 0, 0]);
    const [small, large, empty] = body.data;
    // Below 10 ms the bins are one ms wide: exact nearest-rank percentiles.
    assert.deepEqual(small.latency_ms, { count: 9, avg: 5, p50: 5, p95: 9, p99: 9, max: 9 });
    assert.deepEqual(small.ttft_ms, { count: 4, avg: 5, p50: 4, p95: 8, p99: 8, max: 8 });
    // Above, within the 20%-wide bin of the true value (55, 96, 100).
    for (const [q, exact] of [['p50', 55], ['p95', 96], ['p99', 100]] as const) {
      assert.ok(Math.abs(large.latency_ms[q] - exact) <= exact * 0.2, `${q} ${large.latency_ms[q]} ~ ${exact}`);
    }
    assert.equal(large.latency_ms.max, 100);
    assert.equal(large.errors, 1);
    assert.equal(empty.latency_ms, null);
    assert.equal(empty.ttft_ms, null);
    assert.deepEqual({ ...body.totals, latency_ms: undefined, ttft_ms: undefined }, { requests: 100, errors: 1, prompt_tokens: 300, completion_tokens: 200, cost_micros: 1000, latency_ms: undefined, ttft_ms: undefined });
    assert.equal(body.totals.latency_ms.count, 100);
  });

  await t.test('filters, the automatic step and the per-channel view', async () => {
    const small = (await get(fx, `/admin/usage/timeseries?from=${base}&to=${base + 3_600_000}&model=small&user_id=${fx.userId}`)).json();
    assert.equal(small.step_ms, 60_000, 'an hour: minutes');
    assert.equal(small.totals.requests, 9);
    assert.equal((await get(fx, `/admin/usage/timeseries?from=${base}&to=${base + 30 * 86_400_000}`)).json().step_ms, 21_600_000);
    const channels = (await get(fx, `/admin/usage/channels?from=${base}&to=${base + 3_600_000}`)).json();
    assert.deepEqual(channels.data.map((c: { channel_id: number; name: string; requests: number; last_error_ts: number }) => [c.channel_id, c.name, c.requests, c.last_error_ts]), [[0, 'mock', 100, base + 60_000 + 90]]);
  });

  await t.test('bad queries are 400s naming the parameter', async () => {
    for (const [query, param] of [
      ['step=2m', 'step'],
      [`from=${base}&to=${base}`, 'from'],
      ['from=yesterday', 'from'],
      [`from=0&step=1m`, 'step'],
      ['user_id=0', 'user_id'],
      ['colour=blue', 'colour'],
    ] as const) {
      const r = await get(fx, `/admin/usage/timeseries?${query}`);
      assert.equal(r.status, 400, `${query}: ${r.text}`);
      assert.equal(r.json().error.param, param, query);
    }
    assert.equal((await get(fx, '/admin/usage/channels?to=nope')).json().error.param, 'to');
  });
});

test('dashboard: sign in, charts from real traffic, create/use/revoke a key', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium); .ci/run installs it`,
  timeout: 60_000,
}, async (t) => {
  const fx = await startFixture();
  t.after(() => fx.close());
  // Priced, so credits are spent: 1,000 and 2,000 credits per 1M tokens.
  await admin(fx, 'PUT', '/admin/prices', { model: 'mock-gpt', input_micros_per_mtok: 1_000_000_000, output_micros_per_mtok: 2_000_000_000 });
  await admin(fx, 'POST', `/admin/users/${fx.userId}/credit`, { amount_micros: 10_000_000 });
  // Real traffic with the fixture's key: three plain, two streamed (for TTFT).
  for (const stream of [false, true, false, true, false]) assert.equal(await chat(fx, fx.key, stream), 200);
  await waitForRecords(fx, 5);

  const profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
  let context: BrowserContext | undefined;
  t.after(async () => {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
  });
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, viewport: { width: 1440, height: 900 } });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // The wrong-token sign-in makes the browser log its 401; anything else is a bug.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });

  await page.goto(`${fx.url}/dashboard`);
  assert.ok(page.url().endsWith('/dashboard/'), page.url());

  await t.test('a wrong token is refused with a message', async () => {
    await page.fill('#login-token', 'not-the-admin-token-000');
    await page.click('#login-submit');
    await page.locator('#login-error').waitFor({ state: 'visible' });
    assert.match(await text(page, '#login-error'), /not valid/);
    assert.equal(await page.locator('#app').isHidden(), true);
  });

  await t.test('signed in, the tiles and charts show the traffic', async () => {
    await page.fill('#login-token', ADMIN_TOKEN);
    await page.click('#login-submit');
    await waitForTile(page, 'tile-requests', '5');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tollgate.adminToken')), ADMIN_TOKEN);
    for (const id of ['requests', 'tokens', 'credits', 'latency', 'ttft']) {
      assert.ok((await page.locator(`#chart-${id} canvas`).count()) >= 1, `chart ${id} has a canvas`);
    }
    assert.equal(await page.getAttribute('#chart-requests', 'data-total'), '5');
    assert.ok(Number(await page.getAttribute('#chart-tokens', 'data-total')) > 0, 'prompt tokens plotted');
    assert.ok(Number(await page.getAttribute('#chart-credits', 'data-total')) > 0, 'credits plotted');
    assert.match(await text(page, '#tile-credits .value'), /^0\.\d+$/);
    assert.ok(Number(await page.getAttribute('#chart-latency', 'data-points')) >= 60, 'an hour of minutes');
    // The charts drew something: the requests chart has non-blank pixels in its plot area.
    const inked = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#chart-requests canvas')!;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    });
    assert.ok(inked > 100, `requests chart drew ${inked} pixels`);
    assert.match(await text(page, '#tile-latency .value'), /^\d+ · \d+ · \d+$/);
    assert.match(await text(page, '#tile-ttft .value'), /^\d+ · \d+ · \d+$/);
    assert.match(await text(page, '#tile-errors .value'), /^0%$/);
    assert.match(await text(page, '#top-users'), /alice/);
    assert.match(await text(page, '#top-models'), /mock-gpt/);
    assert.match(await text(page, '#channels'), /mock/);
    assert.match(await text(page, '#proxies'), /No outbound proxies/);
  });

  let key = '';
  let keyId = 0;
  await t.test('a user and a key created through the forms; the key works', async () => {
    await page.click('a[data-tab=manage]');
    await page.fill('#create-user-form input[name=name]', 'bob');
    await page.fill('#create-user-form input[name=credits]', '2.5');
    await page.click('#create-user-form button[type=submit]');
    await page.locator('#create-user-form .form-msg.ok').waitFor();
    assert.match(await text(page, '#create-user-form .form-msg'), /Created user bob .* 2\.5 credits/);
    assert.match(await text(page, '#users-table'), /bob/);

    // The new user is preselected in the key form.
    assert.match(await page.locator('#key-user option:checked').innerText(), /^bob /);
    await page.fill('#create-key-form input[name=name]', 'from-the-dashboard');
    await page.click('#create-key-form button[type=submit]');
    await page.locator('#created-key').waitFor({ state: 'visible' });
    key = await text(page, '#created-key-value');
    assert.match(key, /^tg-[0-9A-Za-z]{32}$/);
    // The message naming the key id may land a moment after the key is shown.
    await page.locator('#create-key-form .form-msg', { hasText: /#\d+/ }).waitFor();
    keyId = Number(/#(\d+)/.exec(await text(page, '#create-key-form .form-msg'))?.[1]);
    assert.ok(keyId > 0);
    assert.equal(await chat(fx, key), 200);
  });

  await t.test('revoked through the UI, the key is refused', async () => {
    const revoke = page.locator(`button[data-revoke="${keyId}"]`);
    await revoke.click();
    assert.equal(await revoke.innerText(), 'Confirm revoke');
    await revoke.click();
    await revoke.waitFor({ state: 'detached' });
    assert.match(await page.locator('#keys-table tr', { hasText: 'from-the-dashboard' }).innerText(), /revoked/);
    assert.equal(await chat(fx, key), 401);
    assert.equal(await chat(fx, fx.key), 200, 'other keys still work');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-manage.png'), fullPage: true });
  });

  await t.test('a price set through the form is listed per kind; a blank kind stays unset', async () => {
    await page.fill('#set-price-form input[name=model]', 'priced-gpt');
    await page.fill('#set-price-form input[name=input]', '3');
    await page.fill('#set-price-form input[name=output]', '15');
    await page.fill('#set-price-form input[name=cached_input]', '0.3');
    await page.fill('#set-price-form input[name=reasoning]', '20');
    await page.click('#set-price-form button[type=submit]');
    await page.locator('#set-price-form .form-msg.ok').waitFor();
    const row = (await page.locator('#prices-table tr', { hasText: 'priced-gpt' }).innerText()).split('\t').map((c) => c.trim());
    assert.deepEqual(row, ['priced-gpt', 'any', '3', '0.3', '= input', '15', '20']);
    const stored = (await fx.tg.store.prices.list()).find((p) => p.model === 'priced-gpt')!;
    assert.deepEqual([stored.inputMicrosPerMTok, stored.cachedInputMicrosPerMTok, stored.cacheWriteMicrosPerMTok, stored.outputMicrosPerMTok, stored.reasoningMicrosPerMTok], [3_000_000, 300_000, null, 15_000_000, 20_000_000]);
  });

  await t.test('the requests tab filters by user; the overview counts the new requests', async () => {
    await waitForRecords(fx, 7);
    await page.click('a[data-tab=requests]');
    await page.locator('#requests-table tbody tr').first().waitFor();
    assert.equal(await page.locator('#requests-table tbody tr').count(), 7);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-requests.png'), fullPage: true });
    await page.selectOption('#filter-user', { label: `alice (#${fx.userId})` });
    await page.click('#request-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#requests-table tbody tr').length === 6);
    await page.selectOption('#filter-status', '401');
    await page.click('#request-filters button[type=submit]');
    await page.locator('#requests-table td.empty').waitFor();

    await page.click('a[data-tab=overview]');
    await waitForTile(page, 'tile-requests', '7');
    assert.match(await text(page, '#top-users'), /bob/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  await t.test('the services tab shows a service with the calls just made', async () => {
    const svc = await startTestService();
    t.after(() => svc.close());
    await admin(fx, 'PUT', '/admin/services/inventory', { targets: [{ url: svc.url, weight: 1 }] });
    await admin(fx, 'PUT', '/admin/service-rules', { service: 'inventory', user_id: fx.userId, path: '/items/', methods: ['GET'] });
    const statuses: number[] = [];
    for (const method of ['GET', 'GET', 'GET', 'POST'] as const) {
      const res = await request(`${fx.url}/svc/inventory/items/1`, { method, headers: { authorization: `Bearer ${fx.key}` }, body: method === 'POST' ? 'x' : undefined });
      await res.body.text();
      statuses.push(res.statusCode);
    }
    assert.deepEqual(statuses, [200, 200, 200, 403]);
    // The call records are written in batches: wait until all four are in.
    for (let i = 0; i < 200; i++) {
      const traffic = (await get(fx, '/admin/service-traffic')).json() as { data: Array<{ service: string; requests: number }> };
      if (traffic.data.find((row) => row.service === 'inventory')?.requests === 4) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await page.click('a[data-tab=services]');
    await page.waitForFunction(() => /inventory/.test(document.querySelector('#services-table tbody')?.textContent ?? ''));
    const cells = await page.locator('#services-table tbody tr', { hasText: 'inventory' }).locator('td').allInnerTexts();
    assert.equal(cells[0], 'inventory');
    assert.equal(cells[1], svc.url);
    assert.equal(cells[2], '4', 'requests');
    assert.equal(cells[3], '0', 'no 5xx');
    assert.equal(cells[4], '1', 'one refused (POST not allowed)');
    assert.match(cells[5], /ms$/);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-services.png'), fullPage: true });
  });

  assert.deepEqual(problems, []);
});
