// Manage › Services: service routes (/svc/<name>/…) with their targets, and
// the caller rules that let a user call paths and methods of one; add or
// replace, delete. Traffic per service is on the Services tab.

import { api } from './api.js';
import { $, badge, el, renderTable } from './dom.js';
import { check, choice, confirmButton, field, fillSelect, formCard, onSubmit, optionalInt } from './forms.js';

let users = new Map();

const SERVICE_COLUMNS = [
  { label: 'Service', cell: (s) => el('code', {}, s.name) },
  { label: 'Targets', cell: (s) => (s.remote ? badge('remote (secure hop)') : s.targets.map((t) => `${t.url}${t.weight === 1 ? '' : ` ×${t.weight}`}`).join(', ')) },
  { label: 'Timeout', num: true, cell: (s) => `${s.timeoutMs} ms` },
  {
    label: '',
    cell: (s) => confirmButton('Delete', { 'data-delete-service': s.name }, async () => {
      await api(`/admin/services/${encodeURIComponent(s.name)}`, { method: 'DELETE' });
      await servicesView.load();
    }),
  },
];

const RULE_COLUMNS = [
  { label: 'Service', cell: (r) => el('code', {}, r.service) },
  { label: 'Caller', cell: (r) => `${users.get(r.userId)?.name ?? 'user'} (#${r.userId})` },
  { label: 'Path', cell: (r) => el('code', {}, r.path) },
  { label: 'Methods', cell: (r) => r.methods.join(', ') },
  { label: 'Requests / min', num: true, cell: (r) => r.rpm ?? '–' },
  { label: 'In flight', num: true, cell: (r) => r.concurrency ?? '–' },
  {
    label: '',
    cell: (r) => confirmButton('Delete', { 'data-delete-rule': r.id }, async () => {
      await api(`/admin/service-rules/${r.id}`, { method: 'DELETE' });
      await servicesView.load();
    }),
  },
];

/** "http://a:8080 2" lines → [{ url, weight }]. */
function targets(text) {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((line) => {
    const [url, weight, extra] = line.split(/\s+/);
    if (extra !== undefined || (weight !== undefined && !/^[1-9]\d{0,6}$/.test(weight))) throw new Error(`Target "${line}": write the URL, then optionally a weight (a whole number ≥ 1).`);
    return { url, weight: weight === undefined ? 1 : Number(weight) };
  });
}

function serviceForm() {
  const form = formCard('service-form', 'Add or replace service', 'Save service',
    field('Name', { name: 'name', required: true, maxlength: 63, placeholder: 'inventory' }),
    el('label', {}, 'Targets (one URL per line, optional weight after it)', el('textarea', { name: 'targets', rows: 3, placeholder: 'http://10.0.0.5:8080\nhttp://10.0.0.6:8080 2' })),
    field('Timeout (ms)', { name: 'timeout_ms', inputmode: 'numeric', placeholder: '30000' }),
    check('Remote: forward through the secure hop (no targets)', { name: 'remote' }));
  onSubmit(form, async (f) => {
    const name = f.get('name').trim();
    const body = { targets: targets(f.get('targets')), remote: f.get('remote') === 'on' };
    const timeout = optionalInt(f.get('timeout_ms'), 'Timeout');
    if (timeout !== null) body.timeout_ms = timeout;
    await api(`/admin/services/${encodeURIComponent(name)}`, { method: 'PUT', body });
    form.reset();
    await servicesView.load();
    return `Saved service ${name}: /svc/${name}/… is routed.`;
  });
  return form;
}

function ruleForm() {
  const form = formCard('rule-form', 'Allow a caller', 'Save rule',
    el('div', { class: 'pair' }, choice('Service', { name: 'service', required: true }, []), choice('Caller (user)', { name: 'user_id', required: true }, [])),
    el('div', { class: 'pair' }, field('Path prefix', { name: 'path', required: true, maxlength: 500, value: '/' }), field('Methods', { name: 'methods', placeholder: 'GET, POST (empty: all)' })),
    el('div', { class: 'pair' }, field('Requests / min', { name: 'rpm', inputmode: 'numeric', placeholder: 'none' }), field('In flight', { name: 'concurrency', inputmode: 'numeric', placeholder: 'none' })));
  onSubmit(form, async (f) => {
    const methods = f.get('methods').toUpperCase().split(/[\s,]+/).filter((m) => m !== '');
    const body = {
      service: f.get('service'), user_id: Number(f.get('user_id')), path: f.get('path').trim(),
      methods: methods.length === 0 ? ['*'] : methods, rpm: optionalInt(f.get('rpm'), 'Requests / min'), concurrency: optionalInt(f.get('concurrency'), 'In flight'),
    };
    const rule = await api('/admin/service-rules', { method: 'PUT', body });
    await servicesView.load();
    return `Rule #${rule.id}: ${users.get(rule.userId)?.name ?? `user #${rule.userId}`} may call ${rule.methods.join(', ')} ${rule.path}… on ${rule.service}.`;
  });
  return form;
}

/** New user list (the rule form's callers, names in the table). */
export function setServiceUsers(userMap) {
  users = userMap;
  const select = $('#rule-form select[name=user_id]');
  if (select !== null) fillSelect(select, [...userMap.values()].map((u) => [String(u.id), `${u.name} (#${u.id})`]));
}

export const servicesView = {
  name: 'services',
  title: 'Services',
  mount(root) {
    root.append(
      el('div', { class: 'forms' }, serviceForm(), ruleForm()),
      el('section', { class: 'card' }, el('h2', {}, 'Services'), el('div', { class: 'scroll' }, el('table', { id: 'manage-services-table' }))),
      el('section', { class: 'card' }, el('h2', {}, 'Caller rules'), el('div', { class: 'scroll' }, el('table', { id: 'rules-table' }))),
    );
  },
  async load() {
    const [services, rules] = await Promise.all([api('/admin/services'), api('/admin/service-rules')]);
    setServiceUsers(users);
    fillSelect($('#rule-form select[name=service]'), services.data.map((s) => [s.name, s.name]));
    renderTable($('#manage-services-table'), SERVICE_COLUMNS, services.data, 'No services yet.');
    renderTable($('#rules-table'), RULE_COLUMNS, rules.data, 'No caller rules: services refuse every caller (403).');
  },
};
