/**
 * The Node.js version check that runs before anything else is loaded: on an
 * older Node, undici and friends fail at import time with errors that name
 * none of the cause (`Cannot read properties of undefined (reading 'bind')`
 * on Node 20). This file imports nothing so it can run on any Node.
 *
 * Written by hand rather than with `semver`: the check must run before any
 * dependency is loaded, and package.json `engines.node` is a single lower
 * bound (`>=22.19`), which is all this understands.
 */

type Version = [number, number, number];

function parse(text: string): Version | null {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.trim());
  return m === null ? null : [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

function below(a: Version, b: Version): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * The one-line message to print when `actual` (process.versions.node) does
 * not satisfy `engines` (`>=X.Y.Z`), or null when it does or when `engines`
 * is not a plain lower bound (then nothing is refused).
 */
export function nodeVersionProblem(actual: string, engines: string | undefined): string | null {
  const bound = engines === undefined ? null : /^\s*>=\s*(\S+)\s*$/.exec(engines);
  const min = bound === null ? null : parse(bound[1]);
  const have = parse(actual);
  if (min === null || have === null || !below(have, min)) return null;
  return `tollgate needs Node.js ${engines!.trim()} (package.json "engines"); this is Node.js ${actual}. Install a newer Node (e.g. 24 LTS) and run it again.`;
}
