// Manage › Prices: the price of a model per 1M tokens (on every channel or
// one), with the optional cached-input, cache-write and reasoning prices;
// edit (fills the form) and delete.

import { api } from './api.js';
import { $, badge, el, renderTable } from './dom.js';
import { check, choice, confirmButton, field, fillSelect, formCard, onSubmit } from './forms.js';
import { fmtCredits, parseCredits } from './format.js';
import { channelOptions, fetchChannels } from './manage-channels.js';

/** Form field → API field, in micro-credits per 1M tokens; the optional kinds are null when left empty. */
const AMOUNTS = [
  ['input', 'input_micros_per_mtok', 'Input'],
  ['output', 'output_micros_per_mtok', 'Output'],
  ['cached_input', 'cached_input_micros_per_mtok', 'Cached input'],
  ['cache_write', 'cache_write_micros_per_mtok', 'Cache write'],
  ['reasoning', 'reasoning_micros_per_mtok', 'Reasoning'],
];
const OPTIONAL = new Set(['cached_input', 'cache_write', 'reasoning']);
/** What an empty optional kind costs instead. */
const FALLBACK = { cached_input: 'input', cache_write: 'input', reasoning: 'output' };

let channelNames = new Map();

function amount(p, api_field, name) {
  const v = p[api_field];
  if (v === null) return el('span', { class: 'muted' }, `= ${FALLBACK[name]}`);
  return fmtCredits(v);
}

function edit(p) {
  const form = $('#price-form');
  form.elements.model.value = p.model;
  form.elements.channel_id.value = p.channel_id === null ? '' : String(p.channel_id);
  for (const [name, apiField] of AMOUNTS) form.elements[name].value = p[apiField] === null ? '' : fmtCredits(p[apiField]).replaceAll(',', '');
  form.elements.free.checked = p.free;
  form.elements.model.focus();
}

const COLUMNS = [
  { label: 'Model', cell: (p) => p.model },
  { label: 'Channel', cell: (p) => (p.channel_id === null ? 'any' : channelNames.get(p.channel_id) ?? `#${p.channel_id}`) },
  ...AMOUNTS.map(([name, apiField, label]) => ({ label, num: true, cell: (p) => (p.free ? '–' : amount(p, apiField, name)) })),
  { label: '', cell: (p) => (p.free ? badge('free', 'ok') : '') },
  { label: '', cell: (p) => el('button', { type: 'button', class: 'secondary small', onclick: () => edit(p) }, 'Edit') },
  {
    label: '',
    cell: (p) => confirmButton('Delete', { 'data-delete-price': p.id }, async () => {
      await api(`/admin/prices/${p.id}`, { method: 'DELETE' });
      await pricesView.load();
    }),
  },
];

function body(f) {
  const out = { model: f.get('model').trim(), channel_id: f.get('channel_id') === '' ? null : Number(f.get('channel_id')), free: f.get('free') === 'on' };
  if (out.free) return out;
  for (const [name, apiField, label] of AMOUNTS) {
    const text = f.get(name).trim();
    if (text === '' && OPTIONAL.has(name)) out[apiField] = null;
    else if (text !== '') {
      try {
        out[apiField] = parseCredits(text);
      } catch (err) {
        throw new Error(`${label}: ${err.message}`);
      }
    }
  }
  return out;
}

export const pricesView = {
  name: 'prices',
  title: 'Prices',
  mount(root) {
    const credits = (name, label, placeholder) => field(label, { name, inputmode: 'decimal', placeholder });
    const form = formCard('price-form', 'Set price (credits per 1M tokens)', 'Save price',
      el('div', { class: 'pair' }, field('Model', { name: 'model', required: true, maxlength: 200, list: 'price-models' }), choice('Channel', { name: 'channel_id' }, [])),
      el('datalist', { id: 'price-models' }),
      el('div', { class: 'pair' }, credits('input', 'Input', 'e.g. 2.5'), credits('output', 'Output', 'e.g. 10')),
      el('div', { class: 'triple' }, credits('cached_input', 'Cached input', '= input'), credits('cache_write', 'Cache write', '= input'), credits('reasoning', 'Reasoning', '= output')),
      check('Free (no charge)', { name: 'free' }));
    onSubmit(form, async (f) => {
      const price = await api('/admin/prices', { method: 'PUT', body: body(f) });
      await pricesView.load();
      return `Saved the price of ${price.model}${price.channel_id === null ? '' : ` on ${channelNames.get(price.channel_id) ?? `#${price.channel_id}`}`}.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Prices (credits per 1M tokens)'),
      el('p', { class: 'muted' }, 'A channel\'s own price wins over the "any" price of the model. An empty cached/cache-write price is the input price, an empty reasoning price the output price.'),
      el('div', { class: 'scroll' }, el('table', { id: 'prices-table' }))));
  },
  async load() {
    const [prices, channels] = await Promise.all([api('/admin/prices'), fetchChannels()]);
    channelNames = new Map(channels.map((c) => [c.id, c.name]));
    fillSelect($('#price-form select[name=channel_id]'), channelOptions('any channel'));
    const models = new Set(channels.flatMap((c) => c.models.map((m) => m.model)));
    $('#price-models').replaceChildren(...[...models].map((m) => el('option', { value: m })));
    renderTable($('#prices-table'), COLUMNS, prices.data, 'No prices yet.');
  },
};
