/**
 * Response filter rules as the operator writes them, and their checks. A rule
 * has a scope (every request, one channel, one model, one client key), a kind
 * (a literal, a regex, or the built-in thinking strip) and what replaces a match
 * ('' or null: dropped).
 */
import type { TextRule } from './text-filter.ts';

export type FilterScope = 'global' | 'channel' | 'model' | 'key';
export type FilterKind = 'literal' | 'regex' | 'strip_thinking';
export const FILTER_SCOPES: readonly FilterScope[] = ['global', 'channel', 'model', 'key'];
export const FILTER_KINDS: readonly FilterKind[] = ['literal', 'regex', 'strip_thinking'];

/** A stored rule. `subject`: '' (global), a channel id, a model name or a key id, as text. */
export interface FilterRuleSpec {
  id: number;
  scope: FilterScope;
  subject: string;
  kind: FilterKind;
  pattern: string;
  /** null: the match is dropped. */
  replacement: string | null;
  /** The longest text a regex rule may match (streams hold back this much); a literal's own length. */
  maxLength: number;
}

export type FilterRuleInput = Omit<FilterRuleSpec, 'id'>;

/** A regex rule's maxLength when none is given. */
export const DEFAULT_REGEX_MAX_LENGTH = 64;
const MAX_PATTERN = 1_000;
const MAX_MATCH = 4_096;

/** Why a rule cannot be stored, or null. */
export function ruleProblem(rule: FilterRuleInput): string | null {
  if (!FILTER_SCOPES.includes(rule.scope)) return `scope must be one of ${FILTER_SCOPES.join(', ')}`;
  if ((rule.scope === 'global') !== (rule.subject === '')) return rule.scope === 'global' ? 'a global rule has no subject' : `a ${rule.scope} rule needs a subject`;
  if (!FILTER_KINDS.includes(rule.kind)) return `kind must be one of ${FILTER_KINDS.join(', ')}`;
  if (rule.kind === 'strip_thinking') return null;
  if (rule.pattern === '') return 'the pattern is empty';
  if (rule.pattern.length > MAX_PATTERN) return `the pattern is longer than ${MAX_PATTERN} characters`;
  if (rule.replacement !== null && rule.replacement.length > MAX_PATTERN) return `the replacement is longer than ${MAX_PATTERN} characters`;
  if (!Number.isSafeInteger(rule.maxLength) || rule.maxLength < 1 || rule.maxLength > MAX_MATCH) return `maxLength must be an integer from 1 to ${MAX_MATCH}`;
  if (rule.kind === 'literal') return null;
  let compiled: RegExp;
  try {
    compiled = new RegExp(`^(?:${rule.pattern})$`);
  } catch (err) {
    return `the regex does not compile: ${(err as Error).message}`;
  }
  if (compiled.test('')) return 'the regex matches empty text';
  return unsupportedConstruct(rule.pattern);
}

/**
 * Constructs whose meaning depends on text outside the match (anchors, lookarounds,
 * word boundaries) or on numbered groups (backreferences): a stream is filtered in
 * pieces and rules are combined into one pattern, so these would match differently.
 */
function unsupportedConstruct(pattern: string): string | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && (next === 'b' || next === 'B')) return 'word boundaries (\\b, \\B) are not supported';
      if (!inClass && (/[1-9]/.test(next) || next === 'k')) return 'backreferences are not supported';
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') inClass = true;
    else if (c === '^' || c === '$') return 'anchors (^, $) are not supported';
    else if (c === '(' && pattern[i + 1] === '?' && /^(=|!|<=|<!)/.test(pattern.slice(i + 2))) return 'lookarounds are not supported';
  }
  return null;
}

/** The compiled form of a literal or regex rule. */
export function textRule(spec: FilterRuleSpec): TextRule {
  return {
    pattern: spec.pattern,
    regex: spec.kind === 'regex',
    replacement: spec.replacement ?? '',
    maxLength: spec.kind === 'literal' ? spec.pattern.length : spec.maxLength,
  };
}
