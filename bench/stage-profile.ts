/**
 * Where a Tollgate process's CPU goes, per stage of the hot path, from a V8
 * CPU profile (`node --cpu-prof`, e.g. `npm run bench -- --cpu-prof <dir>`, or
 * GET /debug/pprof/profile). A sampling profile is not spoiled by a noisy
 * machine the way wall-clock figures are: it says what share of the process's
 * own CPU each part takes.
 *
 *   node dist/bench/stage-profile.js <file.cpuprofile> [--cpu-us <µs per request>] [--skip-s <s>] [--top <n>]
 *
 * Two tables:
 * - by stage: each sample goes to the first frame, from the stack's root down,
 *   that belongs to a stage of src/gateway/handle-request.ts (its callees keep
 *   the stage: the limiter under admission counts as admission); samples with
 *   no gateway frame go to the Node layer that ran them (HTTP parser, sockets,
 *   undici, GC);
 * - by component: each sample goes to its deepest frame that is ours or a
 *   package's (what would have to get faster).
 * With --cpu-us (the CPU per request measured in the same run, /proc based)
 * each share is also shown as µs per request.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/**
 * Stage of a source file under src/, by path prefix; first match wins. The
 * glue files come last: a stack that starts in serve() (an async continuation)
 * or in the server callback takes the stage of the first stage frame below it.
 */
const GLUE = new Set(['0 handle-request glue (context, promise chain, errors)', '0 edge (server, endpoint lookup)']);
const STAGES: ReadonlyArray<readonly [string, string]> = [
  ['gateway/authenticate', '1 authenticate (key hash, key cache)'],
  ['keys/', '1 authenticate (key hash, key cache)'],
  ['gateway/read-request', '2 read body, JSON.parse, checks'],
  ['gateway/admission', '3 admit (price, limits, token estimate, credits)'],
  ['gateway/relay', '4 relay (upstream request and response)'],
  ['gateway/egress', '4 relay (upstream request and response)'],
  ['upstream/', '4 relay (upstream request and response)'],
  ['providers/', '4 relay (upstream request and response)'],
  ['gateway/record-usage', '5 finish (settle, usage record, metrics, request log)'],
  ['metering/usage-writer', '6 usage writer flush (timer)'],
  ['metering/', '6 usage writer flush (timer)'],
  ['store/', '6 usage writer flush (timer)'],
  ['observability/', '7 metrics / request log outside the request (timers, flushes)'],
  ['gateway/handle-request', '0 handle-request glue (context, promise chain, errors)'],
  ['edge/', '0 edge (server, endpoint lookup)'],
];

function sourcePath(url: string): string | null {
  const at = url.indexOf('/dist/src/');
  if (at >= 0) return url.slice(at + '/dist/src/'.length);
  const src = url.indexOf('/src/');
  return src >= 0 && !url.includes('node_modules') ? url.slice(src + '/src/'.length) : null;
}

function stageOf(frame: CallFrame): string | null {
  const path = sourcePath(frame.url);
  if (path === null) return null;
  for (const [prefix, stage] of STAGES) if (path.startsWith(prefix)) return stage;
  return null;
}

/** What ran a sample with no gateway frame on its stack. */
function layerOf(leaf: CallFrame): string {
  if (leaf.functionName === '(garbage collector)') return 'GC';
  if (leaf.functionName === '(program)') return 'V8 / native (program)';
  const url = leaf.url;
  if (url.includes('node_modules/')) return `${packageOf(url)} (no gateway frame)`;
  if (url.startsWith('node:internal/deps/undici')) return 'undici (no gateway frame)';
  if (/_http_|node:http/.test(url)) return 'node:http (no gateway frame)';
  if (/node:(internal\/)?(net|stream|streams|tcp)/.test(url)) return 'sockets and streams (no gateway frame)';
  if (url === '') return `native: ${leaf.functionName || '(anonymous)'}`;
  return 'other Node internals (no gateway frame)';
}

function packageOf(url: string): string {
  const rest = url.slice(url.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const parts = rest.split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** The deepest frame that is ours or a package's, named by file (ours) or package. */
function componentOf(stack: CallFrame[]): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const frame = stack[i];
    const path = sourcePath(frame.url);
    if (path !== null) return `src/${path.replace(/\.js$/, '')}${i === stack.length - 1 ? '' : ' (+ callees in Node)'}`;
    if (frame.url.includes('node_modules/')) return packageOf(frame.url);
  }
  return layerOf(stack[stack.length - 1]);
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'cpu-us': { type: 'string' }, top: { type: 'string' }, 'skip-s': { type: 'string' } } });
  if (positionals.length !== 1) {
    process.stderr.write('usage: node dist/bench/stage-profile.js <file.cpuprofile> [--cpu-us <µs per request>] [--skip-s <s>] [--top <n>]\n');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(positionals[0], 'utf8')) as CpuProfile;
  const cpuUs = values['cpu-us'] === undefined ? null : Number(values['cpu-us']);
  const top = values.top === undefined ? 20 : Number(values.top);
  // Start-up (module loading, the store opening) is not the hot path: --skip-s leaves it out.
  const skipUs = values['skip-s'] === undefined ? 0 : Number(values['skip-s']) * 1e6;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const stackOf = (id: number): CallFrame[] => {
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!.callFrame);
    return stack.reverse();
  };
  const stageMemo = new Map<number, { stage: string; component: string } | null>();
  const byStage = new Map<string, number>();
  const byComponent = new Map<string, number>();
  let busyUs = 0;
  let elapsedUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's time is the gap to the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    elapsedUs += profile.timeDeltas[i];
    if (elapsedUs < skipUs) continue;
    const id = profile.samples[i];
    let entry = stageMemo.get(id);
    if (entry === undefined) {
      const stack = stackOf(id);
      const leaf = stack[stack.length - 1];
      if (leaf.functionName === '(idle)') entry = null;
      else {
        let stage: string | null = null;
        for (const frame of stack) {
          const found = stageOf(frame);
          if (found === null) continue;
          if (stage === null || GLUE.has(stage)) stage = found;
          if (!GLUE.has(found)) break;
        }
        entry = { stage: stage ?? layerOf(leaf), component: componentOf(stack) };
      }
      stageMemo.set(id, entry);
    }
    if (entry === null) continue;
    busyUs += us;
    byStage.set(entry.stage, (byStage.get(entry.stage) ?? 0) + us);
    byComponent.set(entry.component, (byComponent.get(entry.component) ?? 0) + us);
  }
  const print = (title: string, rows: Map<string, number>, limit: number) => {
    process.stdout.write(`\n${title}\n\n| part | share of busy CPU |${cpuUs === null ? '' : ' µs/request |'}\n| :-- | --: |${cpuUs === null ? '' : ' --: |'}\n`);
    // Parts under 0.5 % are summed into one line.
    const small = [...rows].filter(([, us]) => us / busyUs < 0.005);
    const kept = [...rows].filter(([, us]) => us / busyUs >= 0.005);
    const sorted = kept.sort((a, b) => (title.startsWith('By stage') ? a[0].localeCompare(b[0]) : b[1] - a[1])).slice(0, limit);
    if (small.length > 0) sorted.push([`other (${small.length} parts under 0.5 % each)`, small.reduce((sum, [, us]) => sum + us, 0)]);
    for (const [name, us] of sorted) {
      const share = us / busyUs;
      process.stdout.write(`| ${name} | ${(share * 100).toFixed(1)} % |${cpuUs === null ? '' : ` ${(share * cpuUs).toFixed(1)} |`}\n`);
    }
  };
  process.stdout.write(`${positionals[0]}: ${(busyUs / 1e6).toFixed(2)} s busy CPU sampled${cpuUs === null ? '' : `, scaled to ${cpuUs} µs/request`}\n`);
  print('By stage (first gateway stage from the root of the stack)', byStage, 100);
  print(`By component (deepest frame of ours or a package's), top ${top}`, byComponent, top);
}

main();
