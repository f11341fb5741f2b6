/**
 * The chart of RESULTS.md: CPU microseconds per request of each target
 * (median bar, min–max whisker), one panel per scenario, with the goal line
 * at 1.25 × the baseline. Plain SVG text: no dependency, diffable.
 */
import type { ScenarioName } from '../options.ts';
import type { ScenarioSummary } from './summarize.ts';

const width = 760;
const labelWidth = 130;
const valueWidth = 150;
const barHeight = 22;
const gap = 8;
const panelTitle = 28;
const plotWidth = width - labelWidth - valueWidth - 20;

const colours: Record<string, string> = {
  baseline: '#7f8c8d',
  tollgate: '#2e86de',
  'tollgate-nolimits': '#74b9ff',
  'tollgate-nometering': '#74b9ff',
  'tollgate-noobs': '#74b9ff',
  'tollgate-redis': '#10ac84',
  'tollgate-pg': '#8854d0',
  peer: '#ee5253',
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const panelTitles: Record<ScenarioName, string> = {
  chat: 'Non-streaming: CPU µs per request (median, min–max)',
  stream: 'Streaming: CPU µs per stream (median, min–max)',
  filtered: 'Streaming with 30 response filter rules: CPU µs per stream (median, min–max)',
  translated: 'Translated streaming (chat → Anthropic channel): CPU µs per stream (median, min–max)',
  hop: 'Service hop through two nodes in series: CPU µs per request of the pair (median, min–max)',
  mixed: 'Account mix: CPU µs per request (median, min–max)',
  cached: 'Response cache hit vs bare passthrough: CPU µs per request (median, min–max)',
};

function panel(summaries: ScenarioSummary[], scenario: ScenarioName, top: number): { svg: string; height: number } {
  const bars = summaries.filter((s) => s.scenario === scenario && s.cpuUsPerRequest !== null);
  if (bars.length === 0) return { svg: '', height: 0 };
  const max = Math.max(...bars.map((s) => s.cpuUsPerRequest?.max ?? 0)) * 1.05;
  const x = (value: number): number => labelWidth + (value / max) * plotWidth;
  const parts: string[] = [`<text x="10" y="${top + 18}" class="title">${escape(panelTitles[scenario])}</text>`];
  bars.forEach((s, i) => {
    const cpu = s.cpuUsPerRequest;
    if (cpu === null) return;
    const y = top + panelTitle + i * (barHeight + gap);
    const mid = y + barHeight / 2;
    const ratio = s.cpuRatioToBaseline === null ? '' : ` (${s.cpuRatioToBaseline.median.toFixed(2)}×)`;
    parts.push(
      `<text x="${labelWidth - 8}" y="${mid + 4}" text-anchor="end">${escape(s.target)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${(x(cpu.median) - labelWidth).toFixed(1)}" height="${barHeight}" fill="${colours[s.target] ?? '#576574'}"/>`,
      `<line x1="${x(cpu.min).toFixed(1)}" x2="${x(cpu.max).toFixed(1)}" y1="${mid}" y2="${mid}" class="whisker"/>`,
      `<line x1="${x(cpu.min).toFixed(1)}" x2="${x(cpu.min).toFixed(1)}" y1="${mid - 5}" y2="${mid + 5}" class="whisker"/>`,
      `<line x1="${x(cpu.max).toFixed(1)}" x2="${x(cpu.max).toFixed(1)}" y1="${mid - 5}" y2="${mid + 5}" class="whisker"/>`,
      `<text x="${x(cpu.max) + 6}" y="${mid + 4}">${cpu.median.toFixed(0)} µs${escape(ratio)}</text>`,
    );
  });
  const baseline = bars.find((s) => s.target === 'baseline')?.cpuUsPerRequest;
  const plotBottom = top + panelTitle + bars.length * (barHeight + gap);
  if (baseline !== undefined && baseline !== null && baseline.median * 1.25 <= max) {
    const goal = x(baseline.median * 1.25);
    parts.push(
      `<line x1="${goal.toFixed(1)}" x2="${goal.toFixed(1)}" y1="${top + panelTitle - 4}" y2="${plotBottom}" class="goal"/>`,
      `<text x="${goal.toFixed(1)}" y="${plotBottom + 12}" text-anchor="middle" class="note">1.25 × baseline</text>`,
    );
  }
  return { svg: parts.join('\n'), height: plotBottom - top + 22 };
}

/** The SVG document, or null when no target had a CPU figure. */
export function cpuChart(summaries: ScenarioSummary[], scenarios: ScenarioName[], caption: string): string | null {
  const panels: string[] = [];
  let top = 10;
  for (const scenario of scenarios) {
    const drawn = panel(summaries, scenario, top);
    if (drawn.height === 0) continue;
    panels.push(drawn.svg);
    top += drawn.height + 10;
  }
  if (panels.length === 0) return null;
  const height = top + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<style>
.title { font-weight: bold; font-size: 13px; }
.note { fill: #555; font-size: 11px; }
.whisker { stroke: #222; stroke-width: 1.5; }
.goal { stroke: #e67e22; stroke-width: 1.5; stroke-dasharray: 5 4; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${panels.join('\n')}
<text x="10" y="${height - 8}" class="note">${escape(caption)}</text>
</svg>
`;
}
