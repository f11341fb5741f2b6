/**
 * Response filters on text: the operator's rules (a literal or a regex → a
 * replacement, or dropped) compiled once into ONE combined pattern, and the
 * built-in "strip thinking" (`<think>…</think>` spans). The same filter runs over
 * a whole text (a non-streamed answer) or over a stream of deltas, with the same
 * result however the text is split:
 *
 *   - thinking: a small state machine; only a partial `<think>`/`</think>` tag is
 *     carried between deltas, and text inside a span is dropped as it arrives;
 *   - rules: after each delta, every match that starts more than `hold` characters
 *     before the end of the text seen so far is final (no match is longer than
 *     `hold + 1`), so it is replaced and the text up to there is emitted; the rest
 *     (at most `hold` characters, or the unfinished match) waits for the next delta.
 *
 * Written by hand because this is the product: one regex pass per delta over at
 * most hold + delta characters, no per-rule loop. Rules may not use anchors,
 * lookarounds, word boundaries or backreferences (their meaning would change at a
 * delta boundary); filter-rules.ts refuses them.
 */

/** A compiled rule. `maxLength`: the longest text it can match (a literal's length; declared for a regex). */
export interface TextRule {
  readonly pattern: string;
  readonly regex: boolean;
  /** '' drops the match. */
  readonly replacement: string;
  readonly maxLength: number;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class TextFilter {
  readonly #rules: readonly TextRule[];
  readonly #pattern: RegExp | null;
  /** Characters held back while streaming: the longest match minus one. */
  readonly hold: number;
  readonly stripThinking: boolean;

  constructor(rules: readonly TextRule[], stripThinking: boolean) {
    this.#rules = rules;
    this.stripThinking = stripThinking;
    // One alternation; each rule is a numbered group, so the first defined group names the rule.
    this.#pattern = rules.length === 0 ? null : new RegExp(rules.map((r) => `(${r.regex ? r.pattern : escapeRegExp(r.pattern)})`).join('|'), 'g');
    this.hold = rules.reduce((max, r) => Math.max(max, r.maxLength - 1), 0);
  }

  /** True when the filter changes nothing (no rules, no thinking strip). */
  get empty(): boolean {
    return this.#pattern === null && !this.stripThinking;
  }

  /** Filters a whole text. */
  filter(text: string): string {
    const visible = this.stripThinking ? text.replace(THINK_SPAN, '') : text;
    return this.replace(visible, true).out;
  }

  /** A filter for one stream of deltas (one choice, one content block). */
  stream(): TextStream {
    return new TextStream(this);
  }

  /**
   * Applies the rules to `text`. With `final` false, only matches starting before
   * `text.length - hold` are applied; returns the output and how much of `text` it covers.
   */
  replace(text: string, final: boolean): { out: string; used: number } {
    const pattern = this.#pattern;
    if (pattern === null) return { out: text, used: text.length };
    const safe = final ? text.length : text.length - this.hold;
    if (safe <= 0) return { out: '', used: 0 };
    let out = '';
    let at = 0;
    pattern.lastIndex = 0;
    for (let m = pattern.exec(text); m !== null && m.index < safe; m = pattern.exec(text)) {
      out += text.slice(at, m.index) + this.#replacementOf(m);
      at = m.index + m[0].length;
    }
    const used = Math.max(at, safe);
    return { out: out + text.slice(at, used), used };
  }

  #replacementOf(match: RegExpExecArray): string {
    // Rule patterns may hold groups of their own: find the first defined top-level group.
    let group = 1;
    for (const rule of this.#rules) {
      if (match[group] !== undefined) return rule.replacement;
      group += 1 + groupCount(rule);
    }
    return '';
  }
}

const groupCounts = new WeakMap<TextRule, number>();
/** Capturing groups inside a rule's own pattern (a literal has none). */
function groupCount(rule: TextRule): number {
  let n = groupCounts.get(rule);
  if (n === undefined) {
    n = rule.regex ? new RegExp(`${rule.pattern}|`).exec('')!.length - 1 : 0;
    groupCounts.set(rule, n);
  }
  return n;
}

/** A thinking span, or an unclosed one running to the end. */
const THINK_SPAN = /<think>[\s\S]*?(?:<\/think>|$)/g;
const OPEN = '<think>';
const CLOSE = '</think>';

/** The filter over one stream of deltas: `push` each, then `end` once. */
export class TextStream {
  readonly #filter: TextFilter;
  /** Text waiting for the rules (at most `hold` characters, or an unfinished match). */
  #pending = '';
  /** A partial thinking tag carried to the next delta. */
  #tag = '';
  #inThink = false;

  constructor(filter: TextFilter) {
    this.#filter = filter;
  }

  /** One delta in → the filtered text that is final so far (may be ''). */
  push(delta: string): string {
    const visible = this.#filter.stripThinking ? this.#outsideThinking(delta) : delta;
    if (visible === '' && this.#pending === '') return '';
    const text = this.#pending + visible;
    const { out, used } = this.#filter.replace(text, false);
    this.#pending = text.slice(used);
    return out;
  }

  /** The stream ended: everything still held, filtered. */
  end(): string {
    // A partial opening tag never completed is text; inside an unclosed span everything is dropped.
    const rest = this.#inThink ? '' : this.#tag;
    this.#tag = '';
    const text = this.#pending + rest;
    this.#pending = '';
    return text === '' ? '' : this.#filter.replace(text, true).out;
  }

  /** The part of `delta` outside thinking spans, keeping a partial tag for the next delta. */
  #outsideThinking(delta: string): string {
    let text = this.#tag + delta;
    this.#tag = '';
    let out = '';
    for (;;) {
      if (!this.#inThink) {
        const open = text.indexOf(OPEN);
        if (open === -1) {
          const keep = partialTag(text, OPEN);
          this.#tag = text.slice(text.length - keep);
          return out + text.slice(0, text.length - keep);
        }
        out += text.slice(0, open);
        text = text.slice(open + OPEN.length);
        this.#inThink = true;
      } else {
        const close = text.indexOf(CLOSE);
        if (close === -1) {
          this.#tag = text.slice(text.length - partialTag(text, CLOSE));
          return out;
        }
        text = text.slice(close + CLOSE.length);
        this.#inThink = false;
      }
    }
  }
}

/** Length of the longest suffix of `text` that begins `tag` (a tag split over two deltas). */
function partialTag(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}
