/** How CLI commands print: a human table by default, JSON with --json. */

export interface OutputOptions { json?: boolean }

/** The store this command uses (one command per process), once announced. */
let store: string | null = null;

/**
 * Says on stderr which store the command uses, and adds it as `store` to the
 * JSON object it prints (lists keep their array shape: scripts index them).
 */
export function announceStore(label: string): void {
  store = label;
  process.stderr.write(`store: ${label}\n`);
}

export function print(rows: ReadonlyArray<Record<string, unknown>> | Record<string, unknown>, opts: OutputOptions): void {
  if (opts.json) {
    const out = store === null || Array.isArray(rows) ? rows : { ...rows, store };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  const list = Array.isArray(rows) ? rows : [rows];
  if (list.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const columns = Object.keys(list[0]);
  const cells = list.map((r) => columns.map((c) => formatCell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write([line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n');
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (Array.isArray(v)) return v.map(formatCell).join(',');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A usage or input error: exit code 2. */
export class UsageError extends Error {}
