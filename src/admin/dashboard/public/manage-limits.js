// Manage › Limits: rate-limit policies (requests and tokens per minute,
// requests in flight) per scope; set (replace, or change only the limits
// filled in) and delete.

import { api } from './api.js';
import { $, el, renderTable } from './dom.js';
import { check, choice, confirmButton, field, formCard, onSubmit, optionalInt } from './forms.js';
import { fmtInt } from './format.js';

const AXES = [['rpm', 'Requests / min'], ['tpm', 'Tokens / min'], ['concurrency', 'In flight']];
const SUBJECT_HINT = { global: '(none)', user: 'user id', key: 'key id', model: 'model name', user_model: '<user id>:<model>' };

let users = new Map();

function subjectText(p) {
  if (p.scope === 'user') return `${users.get(Number(p.subject))?.name ?? 'user'} (#${p.subject})`;
  if (p.scope === 'key') return `key #${p.subject}`;
  if (p.scope === 'user_model') {
    const [id, ...model] = p.subject.split(':');
    return `${users.get(Number(id))?.name ?? `#${id}`} · ${model.join(':')}`;
  }
  return p.subject === '' ? '–' : p.subject;
}

const COLUMNS = [
  { label: 'Scope', cell: (p) => p.scope },
  { label: 'Subject', cell: subjectText },
  ...AXES.map(([axis, label]) => ({ label, num: true, cell: (p) => (p[axis] === null ? el('span', { class: 'muted' }, 'unlimited') : fmtInt(p[axis])) })),
  {
    label: '',
    cell: (p) => confirmButton('Delete', { 'data-delete-limit': p.id }, async () => {
      await api(`/admin/limits/${p.id}`, { method: 'DELETE' });
      await limitsView.load();
    }),
  },
];

/** New user list (for names in the table). */
export function setLimitUsers(userMap) {
  users = userMap;
}

export const limitsView = {
  name: 'limits',
  title: 'Limits',
  mount(root) {
    const scope = choice('Scope', { name: 'scope' }, Object.keys(SUBJECT_HINT).map((s) => [s, s]));
    const subject = field('Subject', { name: 'subject', maxlength: 300, placeholder: SUBJECT_HINT.global });
    scope.querySelector('select').addEventListener('change', (e) => {
      subject.querySelector('input').placeholder = SUBJECT_HINT[e.target.value];
    });
    const form = formCard('limit-form', 'Set limit', 'Save limit',
      el('div', { class: 'pair' }, scope, subject),
      el('div', { class: 'triple' }, ...AXES.map(([axis, label]) => field(label, { name: axis, inputmode: 'numeric', placeholder: 'unlimited' }))),
      check('Change only the limits filled in (keep the others)', { name: 'patch' }));
    onSubmit(form, async (f) => {
      const patch = f.get('patch') === 'on';
      const body = { scope: f.get('scope'), subject: f.get('subject').trim() };
      for (const [axis, label] of AXES) {
        const v = optionalInt(f.get(axis), label);
        // A replacement sends every limit (empty: unlimited); a change only the filled ones.
        if (!patch || v !== null) body[axis] = v;
      }
      const policy = await api('/admin/limits', { method: patch ? 'PATCH' : 'PUT', body });
      await limitsView.load();
      return `Saved the ${policy.scope} limit${policy.subject === '' ? '' : ` of ${subjectText(policy)}`}: ${AXES.map(([axis, label]) => `${label.toLowerCase()} ${policy[axis] ?? 'unlimited'}`).join(', ')}.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Rate limits'),
      el('p', { class: 'muted' }, 'An empty limit is unlimited. A request over a limit is answered 429 with Retry-After.'),
      el('div', { class: 'scroll' }, el('table', { id: 'limits-table' }))));
  },
  async load() {
    renderTable($('#limits-table'), COLUMNS, (await api('/admin/limits')).data, 'No limits: requests are limited only by credits.');
  },
};
