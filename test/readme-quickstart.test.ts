/**
 * The README's quick-start client snippet, run as a reader runs it (a file
 * in the clone, `node hello.mjs`, the key in TOLLGATE_KEY) against a gateway.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFixture, type Fixture } from './support/gateway-fixture.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
// In the build folder of the clone, so `openai` resolves from the clone's node_modules as in the README.
const SCRIPT = fileURLToPath(new URL('../readme-hello.mjs', import.meta.url));
let fx: Fixture;
before(async () => {
  fx = await startFixture();
});
after(async () => {
  rmSync(SCRIPT, { force: true });
  await fx.close();
});

test('the quick-start snippet runs and prints both answers', async () => {
  const snippet = /```js\n(import OpenAI[\s\S]*?)```/.exec(README)?.[1];
  assert.ok(snippet !== undefined, 'the README has the snippet');
  assert.match(README, /Save this as `hello\.mjs` in the clone/);
  writeFileSync(SCRIPT, snippet.replace('http://127.0.0.1:8080/v1', `${fx.url}/v1`));
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [SCRIPT], { env: { ...process.env, TOLLGATE_KEY: fx.key }, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr }));
  });
  assert.equal(out.code, 0, out.stderr);
  const lines = out.stdout.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 2, out.stdout);
});

test('the README says the admin token also gates /admin and /dashboard', () => {
  const row = README.split('\n').find((l) => l.startsWith('| `TOLLGATE_ADMIN_TOKEN`'));
  assert.ok(row !== undefined);
  for (const path of ['`/admin`', '`/dashboard`', '`/api/metrics`']) assert.ok(row.includes(path), path);
});
