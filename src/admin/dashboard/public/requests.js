// The requests tab: the usage log, newest first, filtered by user, model
// and status, one page at a time.

import { api, withQuery } from './api.js';
import { $, appendRows, badge, el, renderTable } from './dom.js';
import { fmtCredits, fmtInt, fmtMs, fmtTime } from './format.js';

const PAGE = 50;
let cursor = null;
let users = new Map();

function statusBadge(status) {
  return badge(String(status), status < 400 ? 'ok' : status === 429 || status === 499 ? 'warn' : 'bad');
}

const COLUMNS = [
  { label: 'Time', cell: (r) => fmtTime(r.ts) },
  { label: 'User', cell: (r) => users.get(r.user_id)?.name ?? `#${r.user_id}` },
  { label: 'Key', num: true, cell: (r) => `#${r.key_id}` },
  { label: 'Model', cell: (r) => r.model },
  { label: 'Channel', num: true, cell: (r) => (r.channel_id === null ? '–' : `#${r.channel_id}`) },
  { label: 'Status', cell: (r) => statusBadge(r.status) },
  { label: 'Outcome', cell: (r) => (r.error_class === null ? r.outcome : `${r.outcome} (${r.error_class})`) },
  { label: 'Latency', num: true, cell: (r) => fmtMs(r.latency_ms) },
  { label: 'TTFT', num: true, cell: (r) => fmtMs(r.ttft_ms) },
  { label: 'Tokens in / out', num: true, cell: (r) => `${fmtInt(r.prompt_tokens)} / ${fmtInt(r.completion_tokens)}` },
  // The priced parts of the two: cached and cache-written input, reasoning output.
  { label: 'Cached / written / reasoning', num: true, cell: (r) => `${fmtInt(r.cached_tokens)} / ${fmtInt(r.cache_write_tokens)} / ${fmtInt(r.reasoning_tokens)}` },
  { label: 'Credits', num: true, cell: (r) => fmtCredits(r.cost_micros) },
  { label: 'Request id', cell: (r) => el('code', {}, r.request_id) },
];

function filters() {
  return { user_id: $('#filter-user').value, model: $('#filter-model').value.trim(), status: $('#filter-status').value };
}

async function loadPage(first) {
  const page = await api(withQuery('/admin/usage', { ...filters(), limit: PAGE, cursor: first ? null : cursor }));
  if (first) renderTable($('#requests-table'), COLUMNS, page.data, 'No requests match.');
  else appendRows($('#requests-table tbody'), COLUMNS, page.data);
  cursor = page.next_cursor;
  $('#requests-more').hidden = !page.has_more;
}

/** Fills the user filter (keeping the selection) and the model suggestions. */
export function setRequestChoices(userMap, models) {
  users = userMap;
  const select = $('#filter-user');
  const selected = select.value;
  select.replaceChildren(el('option', { value: '' }, 'Any'), ...[...userMap.values()].map((u) => el('option', { value: u.id }, `${u.name} (#${u.id})`)));
  select.value = userMap.has(Number(selected)) ? selected : '';
  $('#model-names').replaceChildren(...models.map((m) => el('option', { value: m })));
}

/** Reloads the first page with the current filters. */
export function loadRequests() {
  return loadPage(true);
}

/** Wires the filter form and the "load more" button; `report` shows errors. */
export function initRequests(report) {
  const form = $('#request-filters');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    loadPage(true).catch(report);
  });
  // After the browser has cleared the fields.
  form.addEventListener('reset', () => setTimeout(() => loadPage(true).catch(report)));
  $('#requests-more').addEventListener('click', () => loadPage(false).catch(report));
}
