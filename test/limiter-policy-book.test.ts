import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyBook } from '../src/limiter/policy-book.ts';
import { policy } from './support/limiter-helpers.ts';

const g = policy('global', '', { rpm: 1000 });
const u7 = policy('user', '7', { rpm: 10 });
const u8 = policy('user', '8', { concurrency: 2 });
const k3 = policy('key', '3', { rpm: 5 });
const mGpt = policy('model', 'gpt', { rpm: 50 });
const mClaude = policy('model', 'claude', { rpm: 60 });
const um7Gpt = policy('user_model', '7:gpt', { rpm: 2 });

test('every applicable scope, in the order global, user, key, model, user_model', () => {
  // Given out of order on purpose: the result order does not follow the input.
  const book = new PolicyBook([um7Gpt, mGpt, k3, u7, g, u8, mClaude]);
  assert.deepEqual(book.policiesFor(7, 3, 'gpt'), [g, u7, k3, mGpt, um7Gpt]);
});

test('only the subjects of this request apply', () => {
  const book = new PolicyBook([g, u7, u8, k3, mGpt, mClaude, um7Gpt]);
  assert.deepEqual(book.policiesFor(8, 4, 'gpt'), [g, u8, mGpt], 'user 8, no key policy, no user_model for user 8');
  assert.deepEqual(book.policiesFor(7, 3, 'claude'), [g, u7, k3, mClaude], 'the user_model policy is for gpt only');
  assert.deepEqual(book.policiesFor(9, 9, 'other'), [g], 'only the global policy');
});

test('user and key subjects are the decimal ids; user_model is "<userId>:<model>"', () => {
  const book = new PolicyBook([policy('user', '12', { rpm: 1 }), policy('key', '34', { rpm: 1 }), policy('user_model', '12:m:x', { rpm: 1 })]);
  const got = book.policiesFor(12, 34, 'm:x');
  assert.deepEqual(got.map((p) => `${p.scope}/${p.subject}`), ['user/12', 'key/34', 'user_model/12:m:x']);
  assert.deepEqual(book.policiesFor(34, 12, 'm:x'), [], 'user and key ids are not interchangeable');
});

test('no policy for a request, or an empty book: one shared empty array', () => {
  const empty = new PolicyBook();
  const none = empty.policiesFor(1, 1, 'gpt');
  assert.deepEqual(none, []);
  assert.equal(empty.policiesFor(2, 2, 'x'), none, 'the same array every time: no allocation');
  assert.ok(Object.isFrozen(none), 'shared, so it must not be writable');
  const book = new PolicyBook([u7]);
  assert.equal(book.policiesFor(8, 1, 'gpt'), none, 'a non-empty book with nothing applicable returns the same empty array');
});

test('a policy without any limit is ignored', () => {
  const blank = policy('user', '7', {});
  const book = new PolicyBook([blank, policy('global', '', {})]);
  assert.deepEqual(book.policiesFor(7, 1, 'gpt'), []);
  const zero = policy('user', '7', { rpm: 0 });
  assert.deepEqual(new PolicyBook([zero]).policiesFor(7, 1, 'gpt'), [zero], 'a limit of 0 blocks, so it is kept');
});

test('two policies for one (scope, subject): the later one wins', () => {
  const first = policy('model', 'gpt', { rpm: 1 });
  const second = policy('model', 'gpt', { rpm: 2 });
  const g2 = policy('global', '', { rpm: 3 });
  assert.deepEqual(new PolicyBook([first, g, second, g2]).policiesFor(1, 1, 'gpt'), [g2, second]);
});

test('replace swaps the whole book', () => {
  const book = new PolicyBook([g, u7, mGpt]);
  const k = policy('key', '3', { tpm: 100 });
  book.replace([k]);
  assert.deepEqual(book.policiesFor(7, 3, 'gpt'), [k], 'old policies no longer apply');
  assert.equal(book.hasTokenLimits, true);
  book.replace([]);
  assert.deepEqual(book.policiesFor(7, 3, 'gpt'), []);
  assert.equal(book.hasTokenLimits, false);
});

test('hasTokenLimits is true exactly when some policy has a TPM limit (0 included)', () => {
  assert.equal(new PolicyBook().hasTokenLimits, false);
  assert.equal(new PolicyBook([g, u7, u8, k3]).hasTokenLimits, false, 'RPM and concurrency only');
  assert.equal(new PolicyBook([g, policy('user_model', '1:x', { tpm: 500 })]).hasTokenLimits, true);
  assert.equal(new PolicyBook([policy('model', 'x', { tpm: 0 })]).hasTokenLimits, true);
});
