// Time charts on uPlot (served by Tollgate from node_modules, loaded as the
// global `uPlot` before this module runs). One TimeChart per panel; `update`
// swaps the data in place, so an auto-refresh does not rebuild the canvas.

import { el } from './dom.js';

const HEIGHT = 210;
/** A series with this many values or fewer gets a marker on each: a lone value on a line is otherwise invisible. */
const FEW = 12;
/** Axis steps for whole-number series (requests, tokens): no "0.5 requests" ticks. */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 1e8, 1e9, 1e10];

/** Series colours shared by every chart, so p95 is the same colour everywhere. */
export const COLORS = {
  blue: '#3a66d1',
  violet: '#8a5cd6',
  green: '#1f8a5b',
  amber: '#d08a1e',
  red: '#c23b3b',
};

function valuesIn(column) {
  let n = 0;
  for (const v of column) if (v !== null && v !== undefined && v !== 0) n++;
  return n;
}

/**
 * The y range: from 0, with headroom over the highest value; at least 0..4
 * for whole numbers, so one request is a bar a quarter high, not full height.
 */
function yRange(max, whole) {
  if (!(max > 0)) return [0, whole ? 4 : 1];
  const top = max * 1.12;
  return [0, whole ? Math.max(4, Math.ceil(top)) : top];
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/**
 * A time-series panel. `spec.series`: `[{ label, color, bars? }]`;
 * `spec.format`: value → text for the axis and legend; `spec.sparse`: the
 * series have gaps (percentiles of empty steps), so draw each point;
 * `spec.whole`: the values are counts (whole-number axis steps);
 * `spec.empty`: what to say when every value is zero or missing. A line
 * with few values gets markers even when not sparse.
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
        y: { range: (_u, _min, max) => yRange(max, this.spec.whole === true) },
      },
      axes: [
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' } },
        { stroke: '#667085', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' }, size: 56, incrs: this.spec.whole ? WHOLE_STEPS : undefined, values: (_u, splits) => splits.map((v) => format(v)) },
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
          points: { show: (u, i) => !s.bars && (this.spec.sparse === true || valuesIn(u.data[i]) <= FEW), size: 6 },
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
    this.container.dataset.markers = String(this.spec.series.some((s, i) => !s.bars && (this.spec.sparse === true || valuesIn(columns[i]) <= FEW)));
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
