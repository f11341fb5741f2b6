// Manage › Keys: create a client key (shown once), search and page through
// the keys newest first, revoke.

import { api } from './api.js';
import { $, badge, el } from './dom.js';
import { choice, confirmButton, field, formCard, onSubmit } from './forms.js';
import { fmtTime } from './format.js';
import { Pager } from './pager.js';

let users = new Map();
let pager = null;

/** Revoked, expired, or active (until its expiry, if it has one). */
function keyStatus(k) {
  if (k.revoked) return badge(`revoked ${fmtTime(k.revoked_at)}`, 'bad');
  if (k.expires_at !== null && k.expires_at <= Date.now()) return badge(`expired ${fmtTime(k.expires_at)}`, 'bad');
  return badge(k.expires_at === null ? 'active' : `active until ${fmtTime(k.expires_at)}`, 'ok');
}

const COLUMNS = [
  { label: 'Id', num: true, cell: (k) => `#${k.id}` },
  { label: 'User', cell: (k) => users.get(k.user_id)?.name ?? `#${k.user_id}` },
  { label: 'Label', cell: (k) => k.name },
  { label: 'Prefix', cell: (k) => el('code', {}, `${k.prefix}…`) },
  { label: 'Created', cell: (k) => fmtTime(k.created_at) },
  { label: 'Status', cell: keyStatus },
  { label: 'Models', cell: (k) => (k.models === null ? 'all' : k.models.join(', ')) },
  { label: 'Addresses', cell: (k) => (k.ips === null ? 'any' : k.ips.join(', ')) },
  {
    label: '',
    cell: (k) => (k.revoked ? '' : confirmButton('Revoke', { 'data-revoke': k.id }, async () => {
      await api(`/admin/keys/${k.id}/revoke`, { method: 'POST' });
      await pager.show();
    })),
  },
];

/** Takes the key shown once off the screen. */
export function hideCreatedKey() {
  $('#created-key').hidden = true;
  $('#created-key-value').textContent = '';
}

/** New user list: the owner names and the key form's choice (keeping its selection). */
export function setKeyUsers(userMap) {
  users = userMap;
  const select = $('#key-user');
  const selected = select.value;
  select.replaceChildren(...[...userMap.values()].map((u) => el('option', { value: u.id }, `${u.name} (#${u.id})`)));
  if (userMap.has(Number(selected))) select.value = selected;
}

/** Preselects a user in the key form. */
export function selectKeyUser(id) {
  $('#key-user').value = String(id);
}

function createdKeyBox() {
  const copy = el('button', { type: 'button', id: 'copy-key', class: 'secondary' }, 'Copy');
  const value = el('code', { id: 'created-key-value' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value.textContent);
      copy.textContent = 'Copied';
    } catch {
      // No clipboard over plain http from another host: select it for Ctrl+C instead.
      getSelection().selectAllChildren(value);
    }
  });
  return el('div', { id: 'created-key', class: 'created-key', hidden: true }, el('p', {}, 'Copy this key now: it is shown only once.'), value, copy);
}

export const keysView = {
  name: 'keys',
  title: 'Keys',
  mount(root) {
    pager = new Pager({ id: 'keys', path: '/admin/keys', columns: COLUMNS, empty: 'No keys yet.', query: () => ({ order: 'desc' }) });
    const form = formCard('create-key-form', 'Create key', 'Create key',
      choice('User', { name: 'user_id', id: 'key-user', required: true }, []),
      field('Label', { name: 'name', maxlength: 100, placeholder: 'default' }));
    form.append(createdKeyBox());
    onSubmit(form, async (f) => {
      hideCreatedKey();
      const label = f.get('name').trim();
      const key = await api('/admin/keys', { method: 'POST', body: { user_id: Number(f.get('user_id')), ...(label === '' ? {} : { name: label }) } });
      $('#created-key-value').textContent = key.key;
      $('#created-key').hidden = false;
      form.querySelector('input[name=name]').value = '';
      await pager.first();
      return `Created key #${key.id} for ${users.get(key.user_id)?.name ?? `user #${key.user_id}`}.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Keys (newest first)'), ...pager.nodes()));
  },
  load: () => pager.show(),
  leave: hideCreatedKey,
};
