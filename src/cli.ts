#!/usr/bin/env node
/**
 * The `tollgate` entry point: checks the Node.js version against package.json
 * `engines` before loading any dependency (see node-version.ts), then loads
 * the commands (cli/program.ts).
 */
import { readFileSync } from 'node:fs';
import { nodeVersionProblem } from './cli/node-version.ts';

/** package.json `engines.node`, from the source tree (src/) or the build (dist/src/). */
function enginesNode(): string | undefined {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
      if (pkg.name === 'tollgate') return pkg.engines?.node;
    } catch {
      // Not at this level: try the next one.
    }
  }
  return undefined;
}

const problem = nodeVersionProblem(process.versions.node, enginesNode());
if (problem !== null) {
  process.stderr.write(`error: ${problem}\n`);
  process.exit(1);
}
await import('./cli/program.ts');
