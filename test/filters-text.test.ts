/**
 * Response filters on text: a stream split anywhere gives exactly what filtering
 * the whole text gives (property test against String.prototype.replace as the
 * reference), the holdback never exceeds the longest rule, and the rule checks
 * refuse what would match differently in pieces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextFilter, type TextRule } from '../src/filters/text-filter.ts';
import { ruleProblem, textRule, type FilterRuleInput } from '../src/filters/filter-rules.ts';
import { streamRewriter } from '../src/filters/answer-filter.ts';

const literal = (pattern: string, replacement = ''): TextRule => ({ pattern, regex: false, replacement, maxLength: pattern.length });
const regex = (pattern: string, maxLength: number, replacement = ''): TextRule => ({ pattern, regex: true, replacement, maxLength });

const RULES: TextRule[] = [
  literal('secret', '[redacted]'),
  literal('abc', 'X'),
  literal('bcd', 'Y'), // overlaps abc: leftmost-first decides
  literal('ab'), // a prefix of another rule, dropped
  regex('\\d{3}-\\d{4}', 8, '<phone>'),
  regex('colou?r', 6, 'hue'),
  regex('(x)(y)z', 3, 'G'), // groups of its own must not confuse which rule matched
];

/** The reference: one combined regex, whole text, String.prototype.replace. */
function reference(text: string, rules: readonly TextRule[], stripThinking: boolean): string {
  let visible = stripThinking ? text.replace(/<think>[\s\S]*?(?:<\/think>|$)/g, '') : text;
  if (rules.length === 0) return visible;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const sources = rules.map((r) => (r.regex ? r.pattern : escape(r.pattern)));
  const combined = new RegExp(sources.map((s) => `(?:${s})`).join('|'), 'g');
  return visible.replace(combined, (match) => {
    const rule = rules.find((r, i) => new RegExp(`^(?:${sources[i]})$`).test(match) && new RegExp(sources.slice(0, i + 1).map((s) => `(?:${s})`).join('|')).exec(match)?.[0] === match);
    return rule!.replacement;
  });
}

/** A deterministic PRNG, so a failure is reproducible from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const PIECES = ['secret', 'abc', 'bcd', 'ab', '555-1234', 'color', 'colour', 'xyz', '<think>', 'hidden', '</think>', 'plain ', 'a', 'b', 'c', 'd', '5', '-', ' ', 'é', '🙂', '<thi', 'nk>'];

function randomText(next: () => number): string {
  let text = '';
  const n = 3 + Math.floor(next() * 25);
  for (let i = 0; i < n; i++) text += PIECES[Math.floor(next() * PIECES.length)];
  return text;
}

function streamed(filter: TextFilter, text: string, cuts: number[]): string {
  const stream = filter.stream();
  let out = '';
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    out += stream.push(text.slice(from, cut));
    from = cut;
  }
  return out + stream.end();
}

for (const stripThinking of [false, true]) {
  test(`random texts split at random points equal the whole-text result (stripThinking=${stripThinking})`, () => {
    const filter = new TextFilter(RULES, stripThinking);
    for (let seed = 1; seed <= 1500; seed++) {
      const next = rng(seed);
      const text = randomText(next);
      const cuts = [...new Set(Array.from({ length: Math.floor(next() * 8) }, () => Math.floor(next() * text.length)))].sort((a, b) => a - b);
      const expected = reference(text, RULES, stripThinking);
      assert.equal(filter.filter(text), expected, `whole, seed ${seed}: ${JSON.stringify(text)}`);
      assert.equal(streamed(filter, text, cuts), expected, `seed ${seed}, cuts ${cuts}: ${JSON.stringify(text)}`);
    }
  });
}

test('a match placed across every boundary of a fixed text, one and two cuts, and one character at a time', () => {
  const filter = new TextFilter(RULES, true);
  const text = 'say secret then 555-1234 and colour<think>not this secret</think>abcd xyz end';
  const expected = reference(text, RULES, true);
  assert.equal(expected, 'say [redacted] then <phone> and hueXd G end');
  for (let i = 0; i <= text.length; i++) {
    assert.equal(streamed(filter, text, [i]), expected, `cut at ${i}`);
    for (let j = i; j <= text.length; j += 3) assert.equal(streamed(filter, text, [i, j]), expected, `cuts at ${i}, ${j}`);
  }
  assert.equal(streamed(filter, text, Array.from({ length: text.length }, (_, i) => i)), expected);
});

test('holdback: a stream never holds more than the longest rule minus one character (outside thinking)', () => {
  const filter = new TextFilter(RULES, false);
  assert.equal(filter.hold, 7);
  const stream = filter.stream();
  let sent = 0;
  let out = '';
  const text = 'plain text without any rule in it, long enough to see the holdback';
  for (const ch of text) {
    out += stream.push(ch);
    sent++;
    assert.ok(sent - out.length <= filter.hold, `held ${sent - out.length} after ${sent}`);
  }
  assert.equal(out + stream.end(), text);
});

test('strip thinking alone: spans dropped as they arrive, an unclosed span drops the rest, a half tag at the end is text', () => {
  const filter = new TextFilter([], true);
  const s = filter.stream();
  assert.equal(s.push('Hi <thi'), 'Hi ');
  assert.equal(s.push('nk>secret thoughts'), '');
  assert.equal(s.push('</thi'), '');
  assert.equal(s.push('nk> there'), ' there');
  assert.equal(s.end(), '');
  assert.equal(filter.filter('a<think>b'), 'a');
  assert.equal(filter.filter('a<thin'), 'a<thin');
  assert.equal(new TextFilter([], false).empty, true);
});

test('rule checks: bad regexes and constructs that change meaning in pieces are refused, with the reason', () => {
  const rule = (over: Partial<FilterRuleInput>): FilterRuleInput => ({ scope: 'global', subject: '', kind: 'regex', pattern: 'a+', replacement: null, maxLength: 10, ...over });
  assert.equal(ruleProblem(rule({})), null);
  assert.match(ruleProblem(rule({ pattern: '(' }))!, /does not compile/);
  assert.match(ruleProblem(rule({ pattern: 'a*' }))!, /matches empty text/);
  assert.match(ruleProblem(rule({ pattern: '^a' }))!, /anchors/);
  assert.match(ruleProblem(rule({ pattern: 'a$' }))!, /anchors/);
  assert.equal(ruleProblem(rule({ pattern: '[^a$]b' })), null, 'inside a class ^ and $ are characters');
  assert.match(ruleProblem(rule({ pattern: 'a(?=b)' }))!, /lookarounds/);
  assert.match(ruleProblem(rule({ pattern: '(?<!x)a' }))!, /lookarounds/);
  assert.match(ruleProblem(rule({ pattern: '\\bword' }))!, /word boundaries/);
  assert.match(ruleProblem(rule({ pattern: '(a)\\1' }))!, /backreferences/);
  assert.match(ruleProblem(rule({ maxLength: 0 }))!, /maxLength/);
  assert.match(ruleProblem(rule({ scope: 'model', subject: '' }))!, /needs a subject/);
  assert.match(ruleProblem(rule({ kind: 'literal', pattern: '' }))!, /empty/);
  assert.equal(ruleProblem(rule({ kind: 'strip_thinking', pattern: '' })), null);
  assert.equal(textRule({ id: 1, ...rule({ kind: 'literal', pattern: 'abcd', maxLength: 64 }) }).maxLength, 4, "a literal's own length");
});

test('chat events: escaped content (quotes, backslashes, unicode escapes) is filtered as text and re-encoded as valid JSON', () => {
  const filter = new TextFilter([literal('secret', '[x]'), literal('"q"', 'Q')], false);
  const rewriter = streamRewriter('openai', filter);
  const texts = ['He said "the sec', 'ret" \\ and "q" \u00e9\n', 'done secret'];
  let out = '';
  for (const [i, text] of texts.entries()) {
    const chunk = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: text }, finish_reason: i === texts.length - 1 ? 'stop' : null }] };
    // \u escapes as some servers write them: the marks still match, the value decodes.
    out += rewriter.event(JSON.stringify(chunk).replace('\u00e9', '\\u00e9'), '');
  }
  out += rewriter.event('[DONE]', '');
  const events = out.split('\n\n').filter((e) => e !== '' && e !== 'data: [DONE]').map((e) => JSON.parse(e.slice('data: '.length)));
  const text = events.map((e) => e.choices[0].delta.content ?? '').join('');
  assert.equal(text, filter.filter(texts.join('')));
  assert.equal(text, 'He said "the [x]" \\ and Q \u00e9\ndone [x]');
});
