/**
 * Path rules of service privileges, compiled once when the service table is
 * loaded: a plain prefix ('/v1/' matches '/v1/a' and '/v1/a/b'; '/' matches
 * everything) or a glob where '*' is one path segment ('[^/]*') and '**' is
 * any run of characters, anchored at both ends. Matching a request is a
 * `startsWith` or one precompiled RegExp test; nothing is built per request.
 */

/** A compiled path rule. */
export interface PathMatcher {
  readonly source: string;
  /** More specific rules sort first: longer literal text before shorter. */
  readonly specificity: number;
  matches(path: string): boolean;
}

class PrefixMatcher implements PathMatcher {
  readonly source: string;
  readonly specificity: number;
  constructor(source: string) {
    this.source = source;
    this.specificity = source.length * 2 + 1;
  }
  matches(path: string): boolean {
    return path.startsWith(this.source);
  }
}

class GlobMatcher implements PathMatcher {
  readonly source: string;
  readonly specificity: number;
  readonly #re: RegExp;
  constructor(source: string) {
    this.source = source;
    this.specificity = source.replace(/\*/g, '').length * 2;
    let re = '^';
    for (let i = 0; i < source.length; i++) {
      const c = source[i];
      if (c === '*') {
        if (source[i + 1] === '*') {
          re += '.*';
          i++;
        } else re += '[^/]*';
      } else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
    this.#re = new RegExp(re + '$');
  }
  matches(path: string): boolean {
    return this.#re.test(path);
  }
}

/** Compiles a rule's path: a glob when it holds '*', else a prefix. */
export function compilePathRule(source: string): PathMatcher {
  return source.includes('*') ? new GlobMatcher(source) : new PrefixMatcher(source);
}
