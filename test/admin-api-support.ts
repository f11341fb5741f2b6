/**
 * Helpers shared by the admin API tests: authenticated calls and the checks
 * every error reply gets (status, OpenAI shape, named field).
 */
import assert from 'node:assert/strict';
import { request } from 'undici';
import { ADMIN_TOKEN, type Fixture } from './support/gateway-fixture.ts';

export interface Reply { status: number; body: any }

/** Calls the admin API with the admin token (or `token`, or none when null). */
export async function admin(fx: Fixture, method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${fx.url}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? null : JSON.parse(text) };
}

/** Asserts an OpenAI-shaped error with `status` whose `param` is `param` and whose message names it. */
export function assertError(r: Reply, status: number, param?: string | null): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body?.error?.message, 'string');
  assert.equal(typeof r.body.error.type, 'string');
  assert.ok('code' in r.body.error && 'param' in r.body.error);
  if (param !== undefined) {
    assert.equal(r.body.error.param, param, r.body.error.message);
    if (param !== null) assert.ok(r.body.error.message.includes(param), `message names '${param}': ${r.body.error.message}`);
  }
}

/** One chat completion with a client key; resolves to the status (body consumed). */
export async function chat(fx: Fixture, key: string, model = 'mock-gpt'): Promise<number> {
  const res = await request(`${fx.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
  });
  await res.body.text();
  return res.statusCode;
}
