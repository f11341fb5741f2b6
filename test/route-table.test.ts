/** Channel selection: priority tiers, smooth weighted round-robin, cooldown ordering, key rotation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, pickKey, upstreamProtocol, type ChannelSpec, type ModelRoute } from '../src/routing/route-table.ts';
import { HealthBook } from '../src/routing/channel-health.ts';

const channel = (id: number, priority: number, weight: number, keys = 1): ChannelSpec => ({
  id, name: `c${id}`, type: 'openai', baseUrl: `http://127.0.0.1:${9000 + id}/v1`, weight, priority, enabled: true,
  models: [{ model: 'm', upstreamModel: 'm' }],
  keys: Array.from({ length: keys }, (_, i) => ({ id: id * 100 + i, secret: `sk-${id}-${i}`, enabled: true })),
});

test('weighted round-robin inside the top tier follows the weights, interleaved', () => {
  const table = new RouteTable([channel(1, 10, 3), channel(2, 10, 1), channel(3, 0, 5)], new HealthBook(1000, 60000));
  const route = table.models.get('m')!;
  const firsts = Array.from({ length: 400 }, () => table.attemptOrder(route, 3, 0)[0].id);
  assert.equal(firsts.filter((id) => id === 1).length, 300);
  assert.equal(firsts.filter((id) => id === 2).length, 100);
  assert.equal(firsts.filter((id) => id === 3).length, 0, 'a lower tier is only a fallback');
  assert.deepEqual(firsts.slice(0, 8), [1, 1, 2, 1, 1, 1, 2, 1], 'smooth: interleaved, not in bursts');
  const order = table.attemptOrder(route, 3, 0).map((c) => c.id);
  assert.deepEqual([...order].sort(), [1, 2, 3]);
  assert.equal(order[2], 3, 'the lower tier comes after the whole top tier');
});

test('cooling channels go last, and a channel whose keys all cool counts as cooling', () => {
  const health = new HealthBook(1000, 60000);
  const table = new RouteTable([channel(1, 10, 1), channel(2, 10, 1), channel(3, 0, 1)], health);
  const route = table.models.get('m')!;
  const now = 1_000_000;
  health.fail(table.channels.find((c) => c.id === 1)!.health, now);
  health.fail(table.channels.find((c) => c.id === 2)!.keys[0].health, now);
  for (let i = 0; i < 4; i++) assert.deepEqual(table.attemptOrder(route, 3, now).map((c) => c.id).slice(0, 1), [3]);
  assert.equal(table.attemptOrder(route, 2, now).length, 2, 'maxAttempts caps the list');
  // After the cooldown the channels are back in rotation.
  assert.notEqual(table.attemptOrder(route, 3, now + 1001)[0].id, 3);
});

test('cooldown doubles per failure up to the cap, and a success resets it', () => {
  const health = new HealthBook(100, 1000);
  const s = health.stateFor('channel:1');
  assert.deepEqual([1, 2, 3, 4, 5].map(() => health.fail(s, 0)), [100, 200, 400, 800, 1000]);
  health.succeed(s);
  assert.equal(s.cooldownUntil, 0);
  assert.equal(health.fail(s, 0), 100);
});

test('keys rotate round-robin and skip cooling keys', () => {
  const health = new HealthBook(1000, 60000);
  const table = new RouteTable([channel(1, 0, 1, 3)], health);
  const c = table.channels[0];
  assert.deepEqual([0, 1, 2, 3].map(() => pickKey(c, 0)!.id), [100, 101, 102, 100]);
  health.fail(c.keys[1].health, 0);
  assert.ok(Array.from({ length: 6 }, () => pickKey(c, 10)!.id).every((id) => id !== 101));
});

test('renames and base paths', () => {
  const spec = { ...channel(1, 0, 1), baseUrl: 'https://api.example.com/openai/v1', models: [{ model: 'fast', upstreamModel: 'gpt-4o-mini' }] };
  const table = new RouteTable([spec, { ...channel(2, 0, 1), baseUrl: 'http://127.0.0.1:9100', enabled: false }], new HealthBook(1, 1));
  const c = table.channels[0];
  assert.equal(table.channels.length, 1, 'disabled channels are left out');
  assert.equal(c.origin, 'https://api.example.com');
  assert.equal(c.basePath, '/openai/v1');
  assert.equal(c.renames.get('fast'), 'gpt-4o-mini');
  assert.deepEqual(JSON.parse(table.modelsJson.toString()).data.map((m: { id: string }) => m.id), ['fast']);
});

test('each channel serves the protocols its provider speaks, with that provider\'s auth header', () => {
  const typed = (id: number, type: ChannelSpec['type']): ChannelSpec => ({ ...channel(id, 0, 1), type });
  const table = new RouteTable([typed(1, 'openai'), typed(2, 'anthropic'), typed(3, 'mock')], new HealthBook(1, 1));
  const ids = (route: ModelRoute | null | undefined) => route!.tiers.flatMap((t) => t.channels.map((c) => c.id)).sort();
  assert.deepEqual(ids(table.byProtocol.openai.get('m')), [1, 3]);
  assert.deepEqual(ids(table.byProtocol.responses.get('m')), [1, 3]);
  assert.deepEqual(ids(table.byProtocol.anthropic.get('m')), [2, 3]);
  // Chat, Responses and Messages reach every channel (translated where needed); completions and embeddings only native ones.
  for (const protocol of ['openai', 'responses', 'anthropic'] as const) assert.deepEqual(ids(table.routeFor({ protocol, translatable: true }, 'm')), [1, 2, 3]);
  assert.deepEqual(ids(table.routeFor({ protocol: 'openai', translatable: false }, 'm')), [1, 3]);
  const ch = (id: number) => table.channels.find((c) => c.id === id)!;
  assert.equal(upstreamProtocol(ch(1), 'anthropic'), 'openai', 'Messages reach an OpenAI channel as chat');
  assert.equal(upstreamProtocol(ch(2), 'responses'), 'anthropic');
  assert.equal(upstreamProtocol(ch(3), 'responses'), 'responses', 'the mock speaks every protocol natively');
  assert.deepEqual(table.modelIds, ['m'], 'GET /v1/models lists every model once');
  const key = (id: number) => table.channels.find((c) => c.id === id)!.keys[0];
  assert.deepEqual([key(1).authHeader, key(1).authValue], ['authorization', 'Bearer sk-1-0']);
  assert.deepEqual([key(2).authHeader, key(2).authValue], ['x-api-key', 'sk-2-0']);
  assert.deepEqual([key(3).authHeader, key(3).authValue], ['authorization', 'Bearer sk-3-0']);
});
