// Manage › Filters: response filter rules (a literal or regex replaced or
// dropped in answers, or the built-in strip_thinking) per scope; add, delete.

import { api } from './api.js';
import { $, el, renderTable } from './dom.js';
import { choice, confirmButton, field, formCard, onSubmit } from './forms.js';

const SUBJECT_HINT = { global: '(none)', channel: 'channel id', model: 'model name', key: 'key id' };

const COLUMNS = [
  { label: 'Id', num: true, cell: (r) => `#${r.id}` },
  { label: 'Scope', cell: (r) => (r.subject === '' ? r.scope : `${r.scope} ${r.subject}`) },
  { label: 'Kind', cell: (r) => r.kind },
  { label: 'Pattern', cell: (r) => (r.kind === 'strip_thinking' ? '–' : el('code', {}, r.pattern)) },
  { label: 'Replacement', cell: (r) => (r.kind === 'strip_thinking' ? '–' : r.replacement === null ? el('span', { class: 'muted' }, 'dropped') : el('code', {}, r.replacement)) },
  { label: 'Max match', num: true, cell: (r) => (r.kind === 'regex' ? String(r.max_length) : '–') },
  {
    label: '',
    cell: (r) => confirmButton('Delete', { 'data-delete-filter': r.id }, async () => {
      await api(`/admin/filters/${r.id}`, { method: 'DELETE' });
      await filtersView.load();
    }),
  },
];

export const filtersView = {
  name: 'filters',
  title: 'Filters',
  mount(root) {
    const scope = choice('Scope', { name: 'scope' }, Object.keys(SUBJECT_HINT).map((s) => [s, s]));
    const subject = field('Subject', { name: 'subject', maxlength: 300, placeholder: SUBJECT_HINT.global });
    scope.querySelector('select').addEventListener('change', (e) => {
      subject.querySelector('input').placeholder = SUBJECT_HINT[e.target.value];
    });
    const form = formCard('filter-form', 'Add response filter', 'Add filter',
      el('div', { class: 'pair' }, scope, subject),
      choice('Kind', { name: 'kind' }, [['literal', 'literal text'], ['regex', 'regex (JavaScript syntax)'], ['strip_thinking', 'strip thinking (<think> spans, reasoning fields)']]),
      field('Pattern', { name: 'pattern', maxlength: 1000 }),
      el('div', { class: 'pair' }, field('Replacement', { name: 'replacement', maxlength: 1000, placeholder: 'empty: drop the match' }), field('Max match (regex)', { name: 'max_length', type: 'number', min: 1, max: 4096, placeholder: 'default' })));
    onSubmit(form, async (f) => {
      const body = { scope: f.get('scope'), subject: f.get('subject').trim(), kind: f.get('kind') };
      if (body.kind !== 'strip_thinking') {
        body.pattern = f.get('pattern');
        body.replacement = f.get('replacement') === '' ? null : f.get('replacement');
      }
      if (body.kind === 'regex' && f.get('max_length') !== '') body.max_length = Number(f.get('max_length'));
      const rule = await api('/admin/filters', { method: 'POST', body });
      form.reset();
      await filtersView.load();
      return `Added filter #${rule.id} (${rule.kind}, ${rule.scope}${rule.subject === '' ? '' : ` ${rule.subject}`}). It applies from the next answer.`;
    });
    root.append(el('div', { class: 'forms' }, form), el('section', { class: 'card' }, el('h2', {}, 'Response filters'),
      el('p', { class: 'muted' }, 'A request gets the rules of every scope it falls in: global, its channel, its model, its key.'),
      el('div', { class: 'scroll' }, el('table', { id: 'filters-table' }))));
  },
  async load() {
    renderTable($('#filters-table'), COLUMNS, (await api('/admin/filters')).data, 'No response filters.');
  },
};
