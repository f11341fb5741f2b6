/** Where things are, from the compiled harness in dist/bench/ or the sources in bench/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: package.json not found above the harness');
    dir = parent;
  }
  return dir;
}

/** The repository root (the folder holding package.json). */
export const repoRoot = findRepoRoot();
/** The compiled harness (dist/bench), home of the process entry points. */
export const benchDistDir = join(repoRoot, 'dist', 'bench');
/** Tollgate's compiled CLI. */
export const tollgateCli = join(repoRoot, 'dist', 'src', 'cli.js');
/** Source folder of the harness: results/ and RESULTS.md are written here. */
export const benchSourceDir = join(repoRoot, 'bench');
/** The peer gateway's own install folder (bench/peer, see its package.json). */
export const peerDir = join(benchSourceDir, 'peer');
