// Manage › Budgets: spend budgets of users and keys (credits per hour, day,
// week or month, calendar or rolling), what each has spent in its current
// period and when it resets; set (one per subject and period) and delete.

import { api } from './api.js';
import { $, el, renderTable } from './dom.js';
import { choice, confirmButton, field, formCard, onSubmit } from './forms.js';
import { fmtCredits, fmtTime, parseCredits } from './format.js';

let users = new Map();

function subjectText(b) {
  return b.scope === 'user' ? `${users.get(b.subject_id)?.name ?? 'user'} (#${b.subject_id})` : `key #${b.subject_id}`;
}

/** "1.2 of 5 credits" with what is left, for a budget row (also used in the users view). */
export function budgetSpend(b) {
  return `${b.period}${b.mode === 'rolling' ? ' (rolling)' : ''}: ${fmtCredits(b.spent_micros)} / ${fmtCredits(b.limit_micros)}`;
}

const COLUMNS = [
  { label: 'Scope', cell: (b) => b.scope },
  { label: 'Subject', cell: subjectText },
  { label: 'Period', cell: (b) => `${b.period} · ${b.mode}` },
  { label: 'Limit (credits)', num: true, cell: (b) => fmtCredits(b.limit_micros) },
  { label: 'Spent', num: true, cell: (b) => el('span', { class: b.remaining_micros === 0 ? 'bad' : '' }, fmtCredits(b.spent_micros)) },
  { label: 'Remaining', num: true, cell: (b) => fmtCredits(b.remaining_micros) },
  { label: 'Resets', cell: (b) => (b.resets_at === null ? el('span', { class: 'muted' }, '–') : fmtTime(b.resets_at)) },
  {
    label: '',
    cell: (b) => confirmButton('Delete', { 'data-delete-budget': b.id }, async () => {
      await api(`/admin/budgets/${b.id}`, { method: 'DELETE' });
      await budgetsView.load();
    }),
  },
];

/** New user list (for names in the table). */
export function setBudgetUsers(userMap) {
  users = userMap;
}

export const budgetsView = {
  name: 'budgets',
  title: 'Budgets',
  mount(root) {
    const form = formCard('budget-form', 'Set budget', 'Save budget',
      el('div', { class: 'pair' },
        choice('Scope', { name: 'scope' }, [['user', 'user'], ['key', 'key']]),
        field('Subject', { name: 'subject_id', inputmode: 'numeric', required: true, placeholder: 'user id or key id' })),
      el('div', { class: 'triple' },
        choice('Period', { name: 'period' }, [['hour', 'hour'], ['day', 'day'], ['week', 'week'], ['month', 'month']]),
        choice('Mode', { name: 'mode' }, [['calendar', 'calendar'], ['rolling', 'rolling']]),
        field('Limit (credits)', { name: 'limit', inputmode: 'decimal', required: true, placeholder: 'e.g. 5' })));
    onSubmit(form, async (f) => {
      const subject = f.get('subject_id').trim();
      if (!/^[1-9]\d{0,15}$/.test(subject)) throw new Error('Subject must be a user id or key id.');
      const body = { scope: f.get('scope'), subject_id: Number(subject), period: f.get('period'), mode: f.get('mode'), limit_micros: parseCredits(f.get('limit')) };
      const budget = await api('/admin/budgets', { method: 'PUT', body });
      await budgetsView.load();
      return `Saved the ${budget.period} budget of ${subjectText(budget)}: ${fmtCredits(budget.limit_micros)} credits (${budget.mode}).`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Spend budgets'),
      el('p', { class: 'muted' }, 'Spent counts the requests in flight at their reservation. A request over a budget is answered 402 naming the budget and its reset; free models are never refused.'),
      el('div', { class: 'scroll' }, el('table', { id: 'budgets-table' }))));
  },
  async load() {
    renderTable($('#budgets-table'), COLUMNS, (await api('/admin/budgets')).data, 'No budgets: spending is limited only by credits.');
  },
};
