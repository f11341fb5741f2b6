// The overview tab: summary tiles, charts over time, top users and models,
// channel health for the selected range, and the outbound proxies' health now.

import { api, withQuery } from './api.js';
import { COLORS, TimeChart } from './charts.js';
import { $, badge, el, renderTable, setTile } from './dom.js';
import { fmtAgo, fmtCompact, fmtCredits, fmtInt, fmtMs, fmtPercent, fmtStep } from './format.js';

const TOP = 10;
let charts = null;

function makeCharts() {
  const percentiles = [{ label: 'p50', color: COLORS.green }, { label: 'p95', color: COLORS.amber }, { label: 'p99', color: COLORS.red }];
  return {
    requests: new TimeChart($('#chart-requests'), { format: fmtCompact, whole: true, empty: 'No requests in this range.', series: [{ label: 'Requests', color: COLORS.blue, bars: true }, { label: 'Errors', color: COLORS.red }] }),
    tokens: new TimeChart($('#chart-tokens'), { format: fmtCompact, whole: true, empty: 'No tokens in this range.', series: [{ label: 'Prompt', color: COLORS.blue }, { label: 'Completion', color: COLORS.violet }] }),
    // Plotted in credits (display only): axis labels in micro-credits would be unreadable.
    credits: new TimeChart($('#chart-credits'), { format: fmtCompact, empty: 'No credits spent in this range.', series: [{ label: 'Credits', color: COLORS.green, bars: true }] }),
    latency: new TimeChart($('#chart-latency'), { format: fmtMs, sparse: true, empty: 'No requests in this range.', series: percentiles }),
    ttft: new TimeChart($('#chart-ttft'), { format: fmtMs, sparse: true, empty: 'No streamed requests in this range.', series: percentiles }),
  };
}

function renderSeries(s) {
  charts ??= makeCharts();
  const xs = s.data.map((p) => p.ts);
  const col = (pick) => s.data.map(pick);
  const dist = (key, q) => col((p) => p[key]?.[q] ?? null);
  charts.requests.update(xs, [col((p) => p.requests), col((p) => p.errors)], s.step_ms);
  charts.tokens.update(xs, [col((p) => p.prompt_tokens), col((p) => p.completion_tokens)], s.step_ms);
  charts.credits.update(xs, [col((p) => p.cost_micros / 1e6)], s.step_ms);
  charts.latency.update(xs, [dist('latency_ms', 'p50'), dist('latency_ms', 'p95'), dist('latency_ms', 'p99')], s.step_ms);
  charts.ttft.update(xs, [dist('ttft_ms', 'p50'), dist('ttft_ms', 'p95'), dist('ttft_ms', 'p99')], s.step_ms);
  for (const span of document.querySelectorAll('.chart-card .step')) span.textContent = fmtStep(s.step_ms);

  const t = s.totals;
  setTile('tile-requests', fmtInt(t.requests), `${fmtInt(t.errors)} errors`);
  setTile('tile-tokens', fmtCompact(t.prompt_tokens + t.completion_tokens), `${fmtInt(t.prompt_tokens)} in · ${fmtInt(t.completion_tokens)} out`);
  setTile('tile-credits', fmtCredits(t.cost_micros), `${fmtInt(t.cost_micros)} micro-credits`);
  setTile('tile-errors', fmtPercent(t.errors, t.requests), `${fmtInt(t.errors)} of ${fmtInt(t.requests)} with status ≥ 400`);
  const trio = (d) => (d === null ? '–' : `${d.p50} · ${d.p95} · ${d.p99}`);
  setTile('tile-latency', trio(t.latency_ms), t.latency_ms === null ? 'no requests' : `avg ${fmtMs(t.latency_ms.avg)} · max ${fmtMs(t.latency_ms.max)}`);
  setTile('tile-ttft', trio(t.ttft_ms), t.ttft_ms === null ? 'no streamed requests' : `${fmtInt(t.ttft_ms.count)} streamed · avg ${fmtMs(t.ttft_ms.avg)}`);
}

function renderLive(m) {
  const l = m.overall.latency;
  setTile('tile-live', l.count === 0 ? '–' : fmtMs(l.p95), l.count === 0 ? `nothing since ${new Date(m.since).toLocaleTimeString()}` : `${fmtInt(l.count)} requests since ${new Date(m.since).toLocaleTimeString()}`);
}

function usageColumns(first) {
  return [
    first,
    { label: 'Requests', num: true, cell: (b) => fmtInt(b.requests) },
    { label: 'Errors', num: true, cell: (b) => fmtPercent(b.errors, b.requests) },
    { label: 'Tokens in', num: true, cell: (b) => fmtInt(b.prompt_tokens) },
    { label: 'Tokens out', num: true, cell: (b) => fmtInt(b.completion_tokens) },
    // The priced parts of the two: cached and cache-written input, reasoning output.
    { label: 'Cached / written / reasoning', num: true, cell: (b) => `${fmtInt(b.cached_tokens)} / ${fmtInt(b.cache_write_tokens)} / ${fmtInt(b.reasoning_tokens)}` },
    { label: 'Credits', num: true, cell: (b) => fmtCredits(b.cost_micros) },
    { label: 'Avg latency', num: true, cell: (b) => fmtMs(b.avg_latency_ms) },
  ];
}

function channelStatus(c) {
  if (c.builtin) return badge('built-in', 'ok');
  if (!c.enabled) return badge('disabled');
  if (c.health.cooling) return badge(`cooling ${Math.ceil(c.health.cooldown_remaining_ms / 1000)} s`, 'bad');
  if (c.keys.length > 0 && c.keys.every((k) => !k.enabled || k.health.cooling)) return badge('no usable key', 'bad');
  if (c.keys.some((k) => k.health.cooling)) return badge('key cooling', 'warn');
  if (!c.routed) return badge('not routed', 'warn');
  return badge('healthy', 'ok');
}

function renderChannels(channels, usage) {
  const byId = new Map(usage.filter((u) => u.channel_id !== null).map((u) => [u.channel_id, u]));
  const rows = channels.map((c) => ({ ...c, usage: byId.get(c.id) ?? null }));
  // Channels the store does not list but traffic went through: the built-in mock.
  for (const u of byId.values()) {
    if (!channels.some((c) => c.id === u.channel_id)) rows.push({ id: u.channel_id, name: u.name ?? `#${u.channel_id}`, type: 'mock', builtin: true, keys: [], health: { failures: 0 }, usage: u });
  }
  const n = (c, f) => (c.usage === null ? '–' : f(c.usage));
  renderTable($('#channels'), [
    { label: 'Channel', cell: (c) => el('span', {}, c.name, el('span', { class: 'muted' }, ` #${c.id}`)) },
    { label: 'Type', cell: (c) => c.type },
    { label: 'Status', cell: channelStatus },
    { label: 'Failures', num: true, cell: (c) => fmtInt(c.health.failures) },
    { label: 'Keys', num: true, cell: (c) => (c.builtin ? '–' : `${c.keys.filter((k) => k.enabled && !k.health.cooling).length} / ${c.keys.length}`) },
    { label: 'Requests', num: true, cell: (c) => n(c, (u) => fmtInt(u.requests)) },
    { label: 'Errors', num: true, cell: (c) => n(c, (u) => fmtPercent(u.errors, u.requests)) },
    { label: 'p95 latency', num: true, cell: (c) => n(c, (u) => fmtMs(u.latency_ms?.p95)) },
    { label: 'Last request', cell: (c) => n(c, (u) => fmtAgo(u.last_ts)) },
    { label: 'Last error', cell: (c) => n(c, (u) => fmtAgo(u.last_error_ts)) },
  ], rows, 'No channels.');
}

function renderProxies(proxies, channels) {
  const names = new Map(channels.map((c) => [c.id, c.name]));
  renderTable($('#proxies'), [
    { label: 'Proxy', cell: (p) => el('span', {}, p.name, el('span', { class: 'muted' }, ` #${p.id}`)) },
    { label: 'Kind', cell: (p) => p.kind },
    // The API never returns credentials: this is the address only.
    { label: 'Address', cell: (p) => p.url },
    { label: 'Pool', cell: (p) => (p.channel_id === null ? 'global' : names.get(p.channel_id) ?? `#${p.channel_id}`) },
    { label: 'Status', cell: (p) => (!p.enabled ? badge('disabled') : p.health.cooling ? badge(`cooling ${Math.ceil(p.health.cooldown_remaining_ms / 1000)} s`, 'bad') : badge('healthy', 'ok')) },
    { label: 'Failures', num: true, cell: (p) => fmtInt(p.health.failures) },
  ], proxies, 'No outbound proxies: upstream traffic goes direct.');
}

/**
 * Loads and renders everything on the tab. `users` maps id → user (for
 * names). Resolves when every panel is drawn; rejects with the first error.
 */
export async function loadOverview(range, users) {
  const q = { from: range.from, to: range.to };
  const [series, byUser, byModel, channels, channelUse, live, proxies] = await Promise.all([
    api(withQuery('/admin/usage/timeseries', { ...q, step: range.step })),
    api(withQuery('/admin/usage/stats', { ...q, group_by: 'user' })),
    api(withQuery('/admin/usage/stats', { ...q, group_by: 'model' })),
    api('/admin/channels'),
    api(withQuery('/admin/usage/channels', q)),
    api('/api/metrics'),
    api('/admin/proxies'),
  ]);
  renderSeries(series);
  renderLive(live);
  renderTable($('#top-users'), usageColumns({ label: 'User', cell: (b) => users.get(b.key)?.name ?? `#${b.key}` }), byUser.data.slice(0, TOP), 'No requests in this range.');
  renderTable($('#top-models'), usageColumns({ label: 'Model', cell: (b) => b.key }), byModel.data.slice(0, TOP), 'No requests in this range.');
  renderChannels(channels.data, channelUse.data);
  renderProxies(proxies.data, channels.data);
  return byModel.data.map((b) => b.key);
}
