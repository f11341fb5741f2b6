// The manage tab: create users, keys (shown once) and channels, list keys
// and users, revoke keys.

import { api } from './api.js';
import { $, badge, el, onSubmit, renderTable } from './dom.js';
import { fmtCredits, fmtTime, parseCredits } from './format.js';

/** A revoke button arms on the first click and acts on the second within this long. */
const CONFIRM_MS = 4000;
let users = new Map();

function revokeButton(key, report, after) {
  let armed = null;
  const button = el('button', { type: 'button', class: 'danger', 'data-revoke': key.id }, 'Revoke');
  button.addEventListener('click', async () => {
    if (armed === null) {
      button.textContent = 'Confirm revoke';
      button.classList.add('confirm');
      armed = setTimeout(() => {
        armed = null;
        button.textContent = 'Revoke';
        button.classList.remove('confirm');
      }, CONFIRM_MS);
      return;
    }
    clearTimeout(armed);
    button.disabled = true;
    try {
      await api(`/admin/keys/${key.id}/revoke`, { method: 'POST' });
      await after();
    } catch (err) {
      button.disabled = false;
      report(err);
    }
  });
  return button;
}

/** Reloads the keys table (newest first). */
export async function loadKeys(report) {
  const keys = (await api('/admin/keys')).data.sort((a, b) => b.id - a.id);
  renderTable($('#keys-table'), [
    { label: 'Id', num: true, cell: (k) => `#${k.id}` },
    { label: 'User', cell: (k) => users.get(k.user_id)?.name ?? `#${k.user_id}` },
    { label: 'Label', cell: (k) => k.name },
    { label: 'Prefix', cell: (k) => el('code', {}, `${k.prefix}…`) },
    { label: 'Created', cell: (k) => fmtTime(k.created_at) },
    { label: 'Status', cell: (k) => (k.revoked ? badge(`revoked ${fmtTime(k.revoked_at)}`, 'bad') : badge('active', 'ok')) },
    { label: '', cell: (k) => (k.revoked ? '' : revokeButton(k, report, () => loadKeys(report))) },
  ], keys, 'No keys yet.');
}

/** Redraws the users table and the key form's user choice from `userMap`. */
export function setManageUsers(userMap) {
  users = userMap;
  const list = [...userMap.values()];
  renderTable($('#users-table'), [
    { label: 'Id', num: true, cell: (u) => `#${u.id}` },
    { label: 'Name', cell: (u) => u.name },
    { label: 'Balance (credits)', num: true, cell: (u) => fmtCredits(u.live_balance_micros ?? u.balance_micros) },
    { label: 'Status', cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
    { label: 'Created', cell: (u) => fmtTime(u.created_at) },
  ], list, 'No users yet.');
  const select = $('#key-user');
  const selected = select.value;
  select.replaceChildren(...list.map((u) => el('option', { value: u.id }, `${u.name} (#${u.id})`)));
  if (userMap.has(Number(selected))) select.value = selected;
}

/**
 * Wires the three forms. `usersChanged` reloads the user list everywhere;
 * `report` shows errors that do not belong to a form.
 */
export function initManage(usersChanged, report) {
  const userForm = $('#create-user-form');
  onSubmit(userForm, async (f) => {
    const credit = parseCredits(f.get('credits'));
    const user = await api('/admin/users', { method: 'POST', body: { name: f.get('name').trim(), ...(credit === 0 ? {} : { credit_micros: credit }) } });
    userForm.reset();
    await usersChanged();
    $('#key-user').value = String(user.id);
    return `Created user ${user.name} (#${user.id}) with ${fmtCredits(user.balance_micros)} credits.`;
  });

  const keyForm = $('#create-key-form');
  onSubmit(keyForm, async (f) => {
    $('#created-key').hidden = true;
    const label = f.get('name').trim();
    const key = await api('/admin/keys', { method: 'POST', body: { user_id: Number(f.get('user_id')), ...(label === '' ? {} : { name: label }) } });
    $('#created-key-value').textContent = key.key;
    $('#created-key').hidden = false;
    keyForm.querySelector('input[name=name]').value = '';
    await loadKeys(report);
    return `Created key #${key.id} for ${users.get(key.user_id)?.name ?? `user #${key.user_id}`}.`;
  });
  $('#copy-key').addEventListener('click', async () => {
    const text = $('#created-key-value').textContent;
    try {
      await navigator.clipboard.writeText(text);
      $('#copy-key').textContent = 'Copied';
    } catch {
      // No clipboard over plain http from another host: select it for Ctrl+C instead.
      getSelection().selectAllChildren($('#created-key-value'));
    }
  });

  const channelForm = $('#create-channel-form');
  onSubmit(channelForm, async (f) => {
    const models = f.get('models').split(/[\s,]+/).filter((m) => m !== '');
    const secret = f.get('key').trim();
    const channel = await api('/admin/channels', {
      method: 'POST',
      body: {
        name: f.get('name').trim(),
        type: f.get('type'),
        base_url: f.get('base_url').trim(),
        models,
        priority: Number(f.get('priority') || 0),
        weight: Number(f.get('weight') || 1),
        ...(secret === '' ? {} : { keys: [secret] }),
      },
    });
    channelForm.reset();
    return `Added channel ${channel.name} (#${channel.id}) serving ${channel.models.map((m) => m.model).join(', ')}.`;
  });
}
