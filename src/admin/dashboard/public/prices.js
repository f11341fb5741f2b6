// Prices on the manage tab: the list, each kind's price per 1M tokens (a kind
// left unset costs the input or output price, shown as such), and a form that
// sets the price of a model.

import { api } from './api.js';
import { $, badge, el, onSubmit, renderTable } from './dom.js';
import { fmtCredits, parseCredits } from './format.js';

/** A kind's price, or what it falls back to when unset. */
const kind = (micros, fallback) => (micros === null ? el('span', { class: 'muted' }, `= ${fallback}`) : fmtCredits(micros));

/** Reloads the prices table (by model, the any-channel price first). */
export async function loadPrices() {
  const prices = (await api('/admin/prices')).data.sort((a, b) => a.model.localeCompare(b.model) || (a.channel_id ?? 0) - (b.channel_id ?? 0));
  renderTable($('#prices-table'), [
    { label: 'Model', cell: (p) => p.model },
    { label: 'Channel', cell: (p) => (p.channel_id === null ? 'any' : `#${p.channel_id}`) },
    { label: 'Input', num: true, cell: (p) => (p.free ? badge('free', 'ok') : fmtCredits(p.input_micros_per_mtok)) },
    { label: 'Cached input', num: true, cell: (p) => (p.free ? '' : kind(p.cached_input_micros_per_mtok, 'input')) },
    { label: 'Cache write', num: true, cell: (p) => (p.free ? '' : kind(p.cache_write_micros_per_mtok, 'input')) },
    { label: 'Output', num: true, cell: (p) => (p.free ? '' : fmtCredits(p.output_micros_per_mtok)) },
    { label: 'Reasoning', num: true, cell: (p) => (p.free ? '' : kind(p.reasoning_micros_per_mtok, 'output')) },
  ], prices, 'No prices yet: every model needs one (or to be free) before clients can use it.');
}

/** A kind price field: blank leaves the kind unset. */
const optional = (text) => (String(text).trim() === '' ? null : parseCredits(text));

/** Wires the price form. */
export function initPrices() {
  const form = $('#set-price-form');
  onSubmit(form, async (f) => {
    const p = await api('/admin/prices', {
      method: 'PUT',
      body: {
        model: f.get('model').trim(),
        input_micros_per_mtok: parseCredits(f.get('input')),
        output_micros_per_mtok: parseCredits(f.get('output')),
        cached_input_micros_per_mtok: optional(f.get('cached_input')),
        cache_write_micros_per_mtok: optional(f.get('cache_write')),
        reasoning_micros_per_mtok: optional(f.get('reasoning')),
      },
    });
    form.reset();
    await loadPrices();
    return `Set the price of ${p.model}.`;
  });
}
