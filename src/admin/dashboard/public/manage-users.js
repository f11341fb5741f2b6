// Manage › Users: create a user, search and page through them, top up
// (or remove) credits, disable and re-enable; each user's spend budgets with
// what they have spent.

import { api } from './api.js';
import { badge, el } from './dom.js';
import { actionButton, field, formCard, inline, onSubmit } from './forms.js';
import { fmtCredits, fmtTime, parseCredits } from './format.js';
import { Pager } from './pager.js';
import { budgetSpend } from './manage-budgets.js';

/** Reloads every user list in the page (names, choices); set by init. */
let usersChanged = async () => {};
let pager = null;
/** user id → that user's budgets with their spend, read with each page. */
let budgets = new Map();

async function loadBudgets() {
  budgets = new Map();
  for (const b of (await api('/admin/budgets?scope=user')).data) budgets.set(b.subject_id, [...(budgets.get(b.subject_id) ?? []), b]);
}

function budgetCell(user) {
  const list = budgets.get(user.id);
  if (list === undefined) return el('span', { class: 'muted' }, '–');
  return el('span', { class: 'budgets' }, ...list.map((b) => el('div', { class: b.remaining_micros === 0 ? 'bad' : '', 'data-budget': b.id }, budgetSpend(b))));
}

function creditForm(user) {
  const amount = el('input', { name: 'amount', inputmode: 'decimal', placeholder: '+ credits', size: 8, autocomplete: 'off', 'aria-label': `Credits for ${user.name}` });
  const button = el('button', { type: 'submit', class: 'secondary small' }, 'Add');
  const form = el('form', { class: 'inline-form', 'data-credit': user.id }, amount, button);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    inline(button, async () => {
      const micros = parseCredits(amount.value, { signed: true });
      if (micros === 0) throw new Error('Enter an amount, e.g. 10 (or -2 to remove).');
      await api(`/admin/users/${user.id}/credit`, { method: 'POST', body: { amount_micros: micros } });
      await changed();
    });
  });
  return form;
}

function toggle(user) {
  const to = user.disabled ? 'enable' : 'disable';
  return actionButton(user.disabled ? 'Enable' : 'Disable', { 'data-toggle-user': user.id }, async () => {
    await api(`/admin/users/${user.id}/${to}`, { method: 'POST' });
    await changed();
  });
}

const COLUMNS = [
  { label: 'Id', num: true, cell: (u) => `#${u.id}` },
  { label: 'Name', cell: (u) => u.name },
  { label: 'Balance (credits)', num: true, cell: (u) => el('span', { class: 'balance' }, fmtCredits(u.live_balance_micros ?? u.balance_micros)) },
  { label: 'Budgets (spent / limit)', cell: budgetCell },
  { label: 'Status', cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
  { label: 'Created', cell: (u) => fmtTime(u.created_at) },
  { label: 'Top up', cell: creditForm },
  { label: '', cell: toggle },
];

/** The current page and every other user list. */
async function changed() {
  await loadBudgets();
  await Promise.all([pager.show(), usersChanged()]);
}

export const usersView = {
  name: 'users',
  title: 'Users',
  /** `hooks.usersChanged` reloads the page-wide user list; `hooks.userCreated(user)` preselects it elsewhere. */
  mount(root, hooks) {
    usersChanged = hooks.usersChanged;
    pager = new Pager({ id: 'users', path: '/admin/users', columns: COLUMNS, empty: 'No users yet.' });
    const form = formCard('create-user-form', 'Create user', 'Create user',
      field('Name', { name: 'name', required: true, maxlength: 200 }),
      field('Opening credits', { name: 'credits', inputmode: 'decimal', placeholder: '0' }));
    onSubmit(form, async (f) => {
      const credit = parseCredits(f.get('credits'));
      const user = await api('/admin/users', { method: 'POST', body: { name: f.get('name').trim(), ...(credit === 0 ? {} : { credit_micros: credit }) } });
      form.reset();
      await changed();
      hooks.userCreated(user);
      return `Created user ${user.name} (#${user.id}) with ${fmtCredits(user.balance_micros)} credits.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Users'), ...pager.nodes()));
  },
  load: async () => {
    await loadBudgets();
    await pager.show();
  },
};
