/**
 * The dashboard's Manage views in headless Chromium against a real gateway
 * and mock upstreams: each form is used through the UI, and its effect is
 * seen on a real request (routing, cost, 429, answer text, balance, proxy
 * tunnel, service call). API errors are shown next to the form.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Locator } from 'playwright-core';
import { request } from 'undici';
import { startMockUpstream } from '../src/mock/mock-upstream.ts';
import { CHROMIUM_SKIP, openBrowser } from './support/dashboard-browser.ts';
import { ADMIN_TOKEN, startFixture, type Fixture } from './support/gateway-fixture.ts';
import { startTestService } from './support/service-upstream.ts';
import { startConnectProxy } from './support/test-proxies.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const MODEL = 'gpt-dash';

async function chat(fx: Fixture, key: string, model = MODEL): Promise<{ status: number; text: string }> {
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello from the manage test' }], max_tokens: 8 }),
  });
  const body = (await res.body.json()) as { choices?: Array<{ message: { content: string } }> };
  return { status: res.statusCode, text: body.choices?.[0]?.message.content ?? '' };
}

async function admin(fx: Fixture, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<any> {
  const res = await request(`${fx.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  assert.ok(res.statusCode < 300, text);
  return JSON.parse(text);
}

/** The newest usage record of a key, once the batched writer has stored `n` records in all. */
async function lastRecord(fx: Fixture, n: number): Promise<any> {
  for (let i = 0; i < 200; i++) {
    // The count first, then the page: read the other way round, a record committed in between
    // would be counted while the page still showed the one before it.
    const total = (await admin(fx, 'GET', '/admin/usage/stats?group_by=model')).totals.requests;
    if (total >= n) return (await admin(fx, 'GET', '/admin/usage?limit=1')).data[0];
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`usage records never reached ${n}`);
}

/**
 * Types into an inline field and presses Enter; resolves once the saved value
 * has redrawn the table (the edited field is replaced by a new one).
 */
async function edit(field: Locator, value: string): Promise<void> {
  const handle = await field.elementHandle();
  await field.fill(value);
  await field.press('Enter');
  await field.page().waitForFunction((el) => !el!.isConnected, handle);
}

test('dashboard manage views: every form, and its effect on real requests', { skip: CHROMIUM_SKIP, timeout: 120_000 }, async (t) => {
  const fx = await startFixture({ TOLLGATE_UPSTREAM_COOLDOWN_BASE_MS: '60000' });
  const primary = await startMockUpstream({ chunks: 2 });
  const backup = await startMockUpstream({ chunks: 2 });
  const browser = await openBrowser();
  t.after(async () => {
    await browser.close();
    await fx.close();
    await primary.close();
    await backup.close();
  });
  const { page, problems } = browser;
  const text = (selector: string) => page.locator(selector).innerText();
  const ok = async (form: string) => {
    await page.locator(`${form} .form-msg.ok`).waitFor();
    return text(`${form} .form-msg`);
  };
  const view = async (name: string) => {
    const loads = Number((await page.getAttribute('#manage-views', 'data-loads')) ?? 0);
    const already = (await page.evaluate(() => location.hash)) === `#manage/${name}`;
    await page.click(`a[data-view=${name}]`);
    await page.locator(`#manage-${name}`).waitFor({ state: 'visible' });
    // Another view's link loads that view (its rows shown at once are the last load's): wait for
    // this view's own load before using them. The link of the view already shown loads nothing.
    if (!already) await page.waitForFunction((n) => Number(document.querySelector('#manage-views')?.getAttribute('data-loads') ?? 0) > n, loads);
  };
  let records = 0;
  const use = async (key = fx.key, model = MODEL) => {
    const r = await chat(fx, key, model);
    if (r.status !== 401 && r.status !== 403) records++;
    return r;
  };

  await page.goto(`${fx.url}/dashboard/#manage`);
  await page.fill('#login-token', ADMIN_TOKEN);
  await page.click('#login-submit');
  await page.locator('#manage-users').waitFor({ state: 'visible' });

  await t.test('channels: added through the form, priced, disabled and enabled, reprioritised, keys swapped', async () => {
    await view('channels');
    const form = '#create-channel-form';
    await page.fill(`${form} input[name=name]`, 'primary');
    await page.fill(`${form} input[name=base_url]`, `${primary.url}/v1`);
    await page.fill(`${form} input[name=models]`, MODEL);
    await page.fill(`${form} input[name=key]`, 'sk-first-0123456789-abcd');
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), /Added channel primary/);
    await admin(fx, 'POST', '/admin/channels', { name: 'backup', base_url: `${backup.url}/v1`, models: [MODEL], keys: ['sk-backup'], priority: -5 });
    await admin(fx, 'PUT', '/admin/prices', { model: MODEL, free: true });
    assert.equal((await use()).status, 200);
    assert.deepEqual([primary.stats.requests, backup.stats.requests], [1, 0], 'priority 0 beats -5');

    await view('channels');
    const row = (name: string) => page.locator('#channels-table tbody tr', { hasText: name });
    // Disabled: its traffic fails over to the backup.
    await row('primary').locator('button[data-toggle-channel]').click();
    await row('primary').locator('.badge', { hasText: 'disabled' }).waitFor();
    assert.equal((await use()).status, 200);
    assert.deepEqual([primary.stats.requests, backup.stats.requests], [1, 1]);
    await row('primary').locator('button[data-toggle-channel]', { hasText: 'Enable' }).click();
    await row('primary').locator('.badge', { hasText: 'routed' }).waitFor();

    // The backup's priority edited in place, above the primary's: it serves.
    await edit(row('backup').locator('input[data-edit=priority]'), '10');
    assert.equal((await use()).status, 200);
    assert.deepEqual([primary.stats.requests, backup.stats.requests], [1, 2]);
    // A bad weight: the API's message next to the field, nothing changed.
    await row('backup').locator('input[data-edit=weight]').fill('-3');
    await row('backup').locator('input[data-edit=weight]').press('Enter');
    await row('backup').locator('.inline-msg', { hasText: /weight/ }).waitFor();
    await edit(row('backup').locator('input[data-edit=priority]'), '-5');
    assert.equal((await admin(fx, 'GET', '/admin/channels?name=backup')).data[0].priority, -5);

    // Keys: a second one added, the first disabled: the upstream sees the second.
    await row('primary').locator('form[data-add-key] input').fill('sk-second-0123456789-wxyz');
    await row('primary').locator('form[data-add-key] button').click();
    await row('primary').locator('li', { hasText: 'wxyz' }).waitFor();
    await row('primary').locator('li', { hasText: 'abcd' }).locator('button').click();
    await row('primary').locator('li', { hasText: 'abcd' }).locator('.badge', { hasText: 'disabled' }).waitFor();
    assert.equal((await use()).status, 200);
    assert.equal(primary.stats.lastRequest?.headers.authorization, 'Bearer sk-second-0123456789-wxyz');
  });

  await t.test('users: credit top-up shows the balance and pays for requests; disable refuses, enable restores; search and pages', async () => {
    await admin(fx, 'PUT', '/admin/prices', { model: MODEL, input_micros_per_mtok: 1_000_000_000, output_micros_per_mtok: 1_000_000_000 });
    assert.equal((await use()).status, 402, 'no credits yet');
    await view('users');
    const row = page.locator(`#users-table tr[data-id="${fx.userId}"]`);
    await row.locator('input[name=amount]').fill('abc');
    await row.locator('button[type=submit]').click();
    await row.locator('.inline-msg', { hasText: /Credits must be a number/ }).waitFor();
    await row.locator('input[name=amount]').fill('50');
    await row.locator('button[type=submit]').click();
    await row.locator('.balance', { hasText: /^50$/ }).waitFor();
    assert.equal((await admin(fx, 'GET', `/admin/users/${fx.userId}`)).balance_micros, 50_000_000);
    assert.equal((await use()).status, 200);

    await row.locator('button[data-toggle-user]').click();
    await row.locator('.badge', { hasText: 'disabled' }).waitFor();
    assert.equal((await use()).status, 403);
    await row.locator('button[data-toggle-user]', { hasText: 'Enable' }).click();
    await row.locator('.badge', { hasText: 'active' }).waitFor();
    assert.equal((await use()).status, 200);

    for (let i = 1; i <= 23; i++) await admin(fx, 'POST', '/admin/users', { name: `pg-user-${String(i).padStart(2, '0')}` });
    await page.fill('#users-search', 'PG-USER');
    await page.waitForFunction(() => document.querySelector('#users-table tbody tr:first-child')?.textContent?.includes('pg-user-01'));
    assert.equal(await page.locator('#users-table tbody tr').count(), 20);
    assert.equal(await page.isDisabled('#users-prev'), true);
    await page.click('#users-next');
    await page.locator('#users-table tbody tr', { hasText: 'pg-user-21' }).waitFor();
    assert.equal(await page.locator('#users-table tbody tr').count(), 3);
    assert.equal(await page.isDisabled('#users-next'), true);
    assert.equal(await text('#users-page'), 'Page 2');
    await page.click('#users-prev');
    await page.locator('#users-table tbody tr', { hasText: 'pg-user-01' }).waitFor();
    await page.fill('#users-search', 'nobody-like-this');
    await page.locator('#users-table td.empty', { hasText: 'Nothing matches' }).waitFor();
  });

  await t.test('keys: search by label, revoke through the UI: 401', async () => {
    const other = await fx.newUser('keyholder');
    await admin(fx, 'POST', `/admin/users/${other.userId}/credit`, { amount_micros: 10_000_000 });
    const labelled = await admin(fx, 'POST', '/admin/keys', { user_id: other.userId, name: 'ci-runner-7' });
    assert.equal((await use(labelled.key)).status, 200);
    await view('keys');
    await page.fill('#keys-search', 'RUNNER');
    await page.waitForFunction(() => document.querySelectorAll('#keys-table tbody tr').length === 1);
    assert.match(await text('#keys-table tbody'), /ci-runner-7/);
    const revoke = page.locator(`button[data-revoke="${labelled.id}"]`);
    await revoke.click();
    await revoke.click();
    await page.locator('#keys-table tbody tr', { hasText: 'revoked' }).waitFor();
    assert.equal((await use(labelled.key)).status, 401);
    assert.equal((await use(other.key)).status, 200, 'the other key of the user still works');
  });

  await t.test('prices: cached and reasoning kinds priced through the form; the next request costs exactly that', async () => {
    await view('prices');
    const form = '#price-form';
    await page.locator(`${form} select[name=channel_id] option`, { hasText: 'primary' }).waitFor({ state: 'attached' });
    // A refused price: the API's message next to the form.
    await page.fill(`${form} input[name=model]`, MODEL);
    await page.fill(`${form} input[name=input]`, '');
    await page.fill(`${form} input[name=output]`, '2000');
    await page.click(`${form} button[type=submit]`);
    await page.locator(`${form} .form-msg.bad`, { hasText: 'input_micros_per_mtok' }).waitFor();
    // 1,000 credits per 1M input tokens = 1,000 micro-credits a token, and so on.
    await page.fill(`${form} input[name=input]`, '1000');
    await page.fill(`${form} input[name=cached_input]`, '100');
    await page.fill(`${form} input[name=reasoning]`, '5000');
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), new RegExp(`Saved the price of ${MODEL}`));
    // The view's own first load may land after the form's reload: wait for the saved row.
    await page.locator('#prices-table tbody tr', { hasText: '5,000' }).waitFor();
    const cells = await page.locator('#prices-table tbody tr', { hasText: MODEL }).locator('td').allInnerTexts();
    assert.deepEqual(cells.slice(0, 7), [MODEL, 'any', '1,000', '2,000', '100', '= input', '5,000']);

    primary.setUsage({ cached: 2, reasoning: 3 });
    t.after(() => primary.setUsage(null));
    assert.equal((await use()).status, 200);
    const r = await lastRecord(fx, records);
    assert.deepEqual([r.cached_tokens, r.reasoning_tokens], [2, 3]);
    assert.equal(r.cost_micros, (r.prompt_tokens - 2) * 1000 + 2 * 100 + (r.completion_tokens - 3) * 2000 + 3 * 5000);
  });

  await t.test('limits: a bad subject is explained; one request a minute: the second is 429', async () => {
    const limited = await fx.newUser('limited', 10_000_000);
    await view('limits');
    const form = '#limit-form';
    await page.selectOption(`${form} select[name=scope]`, 'user');
    await page.fill(`${form} input[name=subject]`, 'abc');
    await page.fill(`${form} input[name=rpm]`, '1');
    await page.click(`${form} button[type=submit]`);
    await page.locator(`${form} .form-msg.bad`, { hasText: 'user id' }).waitFor();
    await page.fill(`${form} input[name=subject]`, String(limited.userId));
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), /requests \/ min 1, tokens \/ min unlimited/);
    assert.match(await page.locator('#limits-table tbody tr', { hasText: 'limited' }).innerText(), /\b1\b/);
    assert.equal((await use(limited.key)).status, 200);
    assert.equal((await use(limited.key)).status, 429);
  });

  await t.test('budgets: set through the form, the spend shows on the user, a budget used up answers 402', async () => {
    const thrifty = await fx.newUser('thrifty', 10_000_000);
    await view('budgets');
    const form = '#budget-form';
    await page.selectOption(`${form} select[name=scope]`, 'user');
    await page.fill(`${form} input[name=subject_id]`, String(thrifty.userId));
    await page.selectOption(`${form} select[name=period]`, 'day');
    await page.fill(`${form} input[name=limit]`, '5');
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), /Saved the day budget of thrifty \(#\d+\): 5 credits \(calendar\)/);
    assert.equal((await use(thrifty.key)).status, 200);
    const cost = (await lastRecord(fx, records)).cost_micros;
    assert.ok(cost > 0);
    // Settled at the real cost: the budget holds what the record says, not the reservation.
    await view('users');
    await page.fill('#users-search', 'thrifty'); // the users step left another search in the box
    const row = page.locator('#users-table tbody tr', { hasText: 'thrifty' });
    await row.locator('[data-budget]').waitFor();
    assert.match(await row.innerText(), new RegExp(`day: ${(cost / 1e6).toString().replace('.', '\\.')} / 5`));
    await admin(fx, 'PUT', '/admin/budgets', { scope: 'user', subject_id: thrifty.userId, period: 'day', limit_micros: cost });
    const refused = await chat(fx, thrifty.key);
    assert.equal(refused.status, 402);
    records++;
    await view('budgets');
    assert.match(await page.locator('#budgets-table tbody tr', { hasText: 'thrifty' }).innerText(), /day · calendar/);
  });

  await t.test('filters: a literal added through the form changes the answer', async () => {
    const before = (await use()).text;
    const word = before.split(/\s+/).find((w) => /^[A-Za-z]{4,}$/.test(w));
    assert.ok(word !== undefined, before);
    await view('filters');
    const form = '#filter-form';
    await page.selectOption(`${form} select[name=kind]`, 'literal');
    await page.fill(`${form} input[name=pattern]`, word);
    await page.fill(`${form} input[name=replacement]`, '[gone]');
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), /Added filter #\d+ \(literal, global\)/);
    assert.match(await text('#filters-table'), new RegExp(word));
    assert.equal((await use()).text, before.replaceAll(word, '[gone]'));
  });

  await t.test('proxies: added with credentials, listed without them, upstream traffic goes through it; deleted, it goes direct', async () => {
    const proxy = await startConnectProxy({ username: 'proxyuser', password: 'hunter2-secret' });
    t.after(() => proxy.kill());
    await view('proxies');
    const form = '#proxy-form';
    await page.fill(`${form} input[name=name]`, 'egress');
    await page.fill(`${form} input[name=url]`, `http://proxyuser:hunter2-secret@127.0.0.1:${proxy.port}`);
    await page.click(`${form} button[type=submit]`);
    assert.match(await ok(form), /Added proxy egress .* with credentials/);
    const listed = await page.locator('#proxies-table tbody tr', { hasText: 'egress' }).innerText();
    assert.match(listed, new RegExp(`http://127\\.0\\.0\\.1:${proxy.port}`));
    assert.match(listed, /stored/);
    assert.ok(!(await page.content()).includes('hunter2'), 'the password is nowhere in the page');
    assert.equal((await use()).status, 200);
    assert.equal(proxy.stats.tunnels, 1);
    assert.deepEqual(proxy.stats.targets, [`127.0.0.1:${primary.port}`]);
    const del = page.locator('#proxies-table button[data-delete-proxy]');
    await del.click();
    await del.click();
    await page.locator('#proxies-table td.empty').waitFor();
    assert.equal((await use()).status, 200);
    assert.equal(proxy.stats.tunnels, 1, 'direct again');
  });

  await t.test('services: a service and a caller rule through the forms; the call goes through', async () => {
    const svc = await startTestService();
    t.after(() => svc.close());
    await view('services');
    await page.fill('#service-form input[name=name]', 'billing');
    await page.fill('#service-form textarea[name=targets]', `${svc.url} 2`);
    await page.click('#service-form button[type=submit]');
    assert.match(await ok('#service-form'), /Saved service billing/);
    assert.match(await page.locator('#manage-services-table tbody tr', { hasText: 'billing' }).innerText(), /×2/);
    const call = async () => {
      const res = await request(`${fx.url}/svc/billing/invoices/1`, { headers: { authorization: `Bearer ${fx.key}` } });
      await res.body.text();
      return res.statusCode;
    };
    assert.equal(await call(), 403, 'no rule yet');
    await page.locator('#rule-form select[name=service] option', { hasText: 'billing' }).waitFor({ state: 'attached' });
    await page.selectOption('#rule-form select[name=user_id]', String(fx.userId));
    await page.fill('#rule-form input[name=path]', '/invoices/');
    await page.fill('#rule-form input[name=methods]', 'get');
    await page.click('#rule-form button[type=submit]');
    assert.match(await ok('#rule-form'), /alice may call GET \/invoices\//);
    assert.equal(await call(), 200);
    assert.equal(svc.hits, 1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-manage-services.png'), fullPage: true });
    await view('channels');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-manage-channels.png'), fullPage: true });
  });

  assert.deepEqual(problems, []);
});
