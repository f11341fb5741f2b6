// Time charts on uPlot (served by Tollgate from node_modules, loaded as the
// global `uPlot` before this module runs). One TimeChart per panel; `update`
// swaps the data in place, so an auto-refresh does not rebuild the canvas.

import { el } from './dom.js';

const HEIGHT = 210;

/** Series colours shared by every chart, so p95 is the same colour everywhere. */
export const COLORS = {
  blue: '#3a66d1',
  violet: '#8a5cd6',
  green: '#1f8a5b',
  amber: '#d08a1e',
  red: '#c23b3b',
};

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/**
 * A time-series panel. `spec.series`: `[{ label, color, bars? }]`;
 * `spec.format`: value → text for the axis and legend; `spec.sparse`: the
 * series have gaps (percentiles of empty steps), so draw each point;
 * `spec.empty`: what to say when every value is zero or missing.
 */
export class TimeChart {
  constructor(container, spec) {
    this.container = container;
    this.spec = spec;
    this.plot = null;
    this.stepSec = 60;
    this.empty = el('div', { class: 'empty' }, spec.empty);
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(container);
  }

  width() {
    return Math.max(240, this.container.clientWidth);
  }

  options() {
    const { format } = this.spec;
    const bars = globalThis.uPlot.paths.bars({ size: [0.7, 40], gap: 1 });
    return {
      width: this.width(),
      height: HEIGHT,
      cursor: { points: { size: 6 } },
      legend: { live: true },
      scales: {
        // Bars are centred on their step's start: pad half a step each side so the end bars are whole.
        x: { time: true, range: (_u, min, max) => [min - this.stepSec / 2, max + this.stepSec / 2] },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.12 : 1] },
      },
      axes: [
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' } },
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' }, size: 56, values: (_u, splits) => splits.map((v) => format(v)) },
      ],
      series: [
        { value: (_u, v) => (v === null ? '–' : new Date(v * 1000).toLocaleString()) },
        ...this.spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.bars ? 1 : 2,
          fill: s.bars ? alpha(s.color, 0.55) : alpha(s.color, 0.06),
          paths: s.bars ? bars : undefined,
          // Dense series would be a row of dots; sparse ones may be single points between gaps.
          points: { show: this.spec.sparse === true, size: 5 },
          spanGaps: false,
          value: (_u, v) => (v === null || v === undefined ? '–' : format(v)),
        })),
      ],
    };
  }

  /** `xs`: step starts in epoch ms; `columns`: one array per series, null where there is no value. */
  update(xs, columns, stepMs) {
    this.stepSec = stepMs / 1000;
    const data = [xs.map((ms) => ms / 1000), ...columns];
    let total = 0;
    for (const v of columns[0]) if (v !== null) total += v;
    const hasData = columns.some((col) => col.some((v) => v !== null && v !== 0));
    // Exposed for tests and for anyone reading the DOM: what the chart is showing.
    this.container.dataset.points = String(xs.length);
    this.container.dataset.total = String(total);
    if (this.plot === null) {
      this.container.replaceChildren();
      this.plot = new globalThis.uPlot(this.options(), data, this.container);
    } else {
      this.plot.setData(data);
    }
    if (hasData) this.empty.remove();
    else this.container.append(this.empty);
  }
}
