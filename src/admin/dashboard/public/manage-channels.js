// Manage › Channels: add a channel; enable/disable it, edit its priority and
// weight in place; add upstream keys to it and enable/disable each one.

import { api } from './api.js';
import { $, badge, el, renderTable } from './dom.js';
import { actionButton, choice, field, formCard, inline, inlineInput, onSubmit } from './forms.js';
import { fmtInt } from './format.js';

/** Channels as last loaded, for the channel choices of the other views. */
let channels = [];

const patch = (id, body) => api(`/admin/channels/${id}`, { method: 'PATCH', body });

function intEdit(c, key, min) {
  return inlineInput({ type: 'number', step: 1, min, value: c[key], 'data-edit': key, 'aria-label': `${key} of ${c.name}`, class: 'inline-edit num' }, async (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new Error(`${key} must be a whole number.`);
    await patch(c.id, { [key]: Number(value) });
    await channelsView.load();
  });
}

function keyItem(c, k) {
  const state = !k.enabled ? badge('disabled') : k.health.cooling ? badge('cooling', 'bad') : badge('on', 'ok');
  return el('li', { 'data-key': k.id }, el('code', {}, k.hint), ' ', state, ' ', actionButton(k.enabled ? 'Disable' : 'Enable', {}, async () => {
    await api(`/admin/channels/${c.id}/keys/${k.id}`, { method: 'PATCH', body: { enabled: !k.enabled } });
    await channelsView.load();
  }));
}

function addKeyForm(c) {
  const secret = el('input', { name: 'secret', type: 'password', placeholder: 'upstream API key', autocomplete: 'off', 'aria-label': `New key for ${c.name}` });
  const button = el('button', { type: 'submit', class: 'secondary small' }, 'Add key');
  const form = el('form', { class: 'inline-form', 'data-add-key': c.id }, secret, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    inline(button, async () => {
      if (secret.value.trim() === '') throw new Error('Paste the upstream API key first.');
      await api(`/admin/channels/${c.id}/keys`, { method: 'POST', body: { secret: secret.value.trim() } });
      await channelsView.load();
    });
  });
  return form;
}

const COLUMNS = [
  { label: 'Channel', cell: (c) => el('span', {}, c.name, el('span', { class: 'muted' }, ` #${c.id}`)) },
  { label: 'Type', cell: (c) => c.type },
  { label: 'Base URL', cell: (c) => el('code', {}, c.base_url) },
  { label: 'Models', cell: (c) => c.models.map((m) => (m.model === m.upstream_model ? m.model : `${m.model} → ${m.upstream_model}`)).join(', ') },
  { label: 'Priority', cell: (c) => intEdit(c, 'priority') },
  { label: 'Weight', cell: (c) => intEdit(c, 'weight', 0) },
  { label: 'Status', cell: (c) => (!c.enabled ? badge('disabled') : c.routed ? badge('routed', 'ok') : badge('not routed', 'warn')) },
  {
    label: '',
    cell: (c) => actionButton(c.enabled ? 'Disable' : 'Enable', { 'data-toggle-channel': c.id }, async () => {
      await patch(c.id, { enabled: !c.enabled });
      await channelsView.load();
    }),
  },
  { label: 'Upstream keys', cell: (c) => el('div', { class: 'keys-cell' }, el('ul', { class: 'key-list' }, ...c.keys.map((k) => keyItem(c, k))), addKeyForm(c)) },
  { label: 'Failures', num: true, cell: (c) => fmtInt(c.health.failures) },
];

/** The channel choices of a select: "any" first when `any` is its label. */
export function channelOptions(any) {
  return [...(any === undefined ? [] : [['', any]]), ...channels.map((c) => [String(c.id), `${c.name} (#${c.id})`])];
}

/** Loads the channel list without drawing it (for the other views' choices). */
export async function fetchChannels() {
  channels = (await api('/admin/channels')).data;
  return channels;
}

export const channelsView = {
  name: 'channels',
  title: 'Channels',
  mount(root) {
    const form = formCard('create-channel-form', 'Add channel', 'Add channel',
      field('Name', { name: 'name', required: true, maxlength: 200 }),
      choice('Type', { name: 'type' }, [['openai', 'openai (any OpenAI-compatible API)'], ['anthropic', 'anthropic']]),
      field('Base URL', { name: 'base_url', type: 'url', required: true, placeholder: 'https://api.openai.com/v1' }),
      field('Models', { name: 'models', required: true, placeholder: 'gpt-4o, gpt-4o-mini' }),
      field('Upstream API key', { name: 'key', type: 'password' }),
      el('div', { class: 'pair' }, field('Priority', { name: 'priority', type: 'number', step: 1, value: 0 }), field('Weight', { name: 'weight', type: 'number', step: 1, min: 0, value: 1 })));
    onSubmit(form, async (f) => {
      const models = f.get('models').split(/[\s,]+/).filter((m) => m !== '');
      const secret = f.get('key').trim();
      const channel = await api('/admin/channels', {
        method: 'POST',
        body: {
          name: f.get('name').trim(), type: f.get('type'), base_url: f.get('base_url').trim(), models,
          priority: Number(f.get('priority') || 0), weight: Number(f.get('weight') || 1), ...(secret === '' ? {} : { keys: [secret] }),
        },
      });
      form.reset();
      await channelsView.load();
      return `Added channel ${channel.name} (#${channel.id}) serving ${channel.models.map((m) => m.model).join(', ')}.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Channels'), el('p', { class: 'muted' }, 'Higher priority is tried first; weight shares traffic within a priority. Edits apply from the next request.'), el('div', { class: 'scroll' }, el('table', { id: 'channels-table' }))));
  },
  async load() {
    renderTable($('#channels-table'), COLUMNS, await fetchChannels(), 'No channels yet (the built-in mock serves mock-* models when enabled).');
  },
};
