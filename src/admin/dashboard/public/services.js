// The services tab: every service route with its calls over the selected
// range (requests, 5xx errors, 4xx refusals, median latency, bytes each way),
// busiest first; services without calls in the range are listed after them.

import { api, withQuery } from './api.js';
import { $, badge, el, renderTable } from './dom.js';
import { fmtInt, fmtMs, fmtPercent } from './format.js';

/** 1536 → "1.5 KiB". */
function fmtBytes(n) {
  if (n < 1024) return `${fmtInt(n)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

const COLUMNS = [
  { label: 'Service', cell: (r) => el('code', {}, r.service) },
  { label: 'Targets', cell: (r) => (r.remote ? badge('remote (secure hop)') : r.targets.map((t) => `${t.url}${t.weight === 1 ? '' : ` ×${t.weight}`}`).join(', ')) },
  { label: 'Requests', num: true, cell: (r) => fmtInt(r.requests) },
  { label: 'Errors (5xx)', num: true, cell: (r) => (r.errors === 0 ? '0' : badge(`${fmtInt(r.errors)} (${fmtPercent(r.errors, r.requests)})`, 'bad')) },
  { label: 'Refused (4xx)', num: true, cell: (r) => (r.refused === 0 ? '0' : badge(fmtInt(r.refused), 'warn')) },
  { label: 'Latency p50', num: true, cell: (r) => (r.requests === 0 ? '–' : fmtMs(r.latency_p50_ms)) },
  { label: 'Bytes in', num: true, cell: (r) => fmtBytes(r.bytes_in) },
  { label: 'Bytes out', num: true, cell: (r) => fmtBytes(r.bytes_out) },
];

const IDLE = { requests: 0, errors: 0, refused: 0, latency_p50_ms: 0, bytes_in: 0, bytes_out: 0 };

/** Loads the services and their traffic over `range` ({ from, to }). */
export async function loadServices(range) {
  const [services, traffic] = await Promise.all([
    api('/admin/services'),
    api(withQuery('/admin/service-traffic', { from: range.from, to: range.to })),
  ]);
  const byName = new Map(services.data.map((s) => [s.name, s]));
  const rows = traffic.data.map((t) => ({ targets: [], remote: false, ...byName.get(t.service), ...t }));
  const seen = new Set(rows.map((r) => r.service));
  for (const s of services.data) if (!seen.has(s.name)) rows.push({ ...IDLE, ...s, service: s.name });
  renderTable($('#services-table'), COLUMNS, rows, 'No services yet: tollgate service add <name> --target <url>.');
}
