// Manage › Proxies: outbound proxies (global pool or one channel's), enable,
// disable, delete; bindings of users and keys to a proxy. Credentials go in
// and never come back: the API lists the address and whether it has any.

import { api } from './api.js';
import { $, badge, el, renderTable } from './dom.js';
import { actionButton, choice, confirmButton, field, fillSelect, formCard, onSubmit } from './forms.js';
import { fmtInt, fmtTime } from './format.js';
import { channelOptions, fetchChannels } from './manage-channels.js';

let proxyNames = new Map();
let channelNames = new Map();

const PROXY_COLUMNS = [
  { label: 'Proxy', cell: (p) => el('span', {}, p.name, el('span', { class: 'muted' }, ` #${p.id}`)) },
  { label: 'Kind', cell: (p) => p.kind },
  { label: 'Address', cell: (p) => el('code', {}, p.url) },
  { label: 'Credentials', cell: (p) => (p.has_credentials ? badge('stored', 'ok') : badge('none')) },
  { label: 'Pool', cell: (p) => (p.channel_id === null ? 'global' : channelNames.get(p.channel_id) ?? `#${p.channel_id}`) },
  { label: 'Status', cell: (p) => (!p.enabled ? badge('disabled') : p.health.cooling ? badge('cooling', 'bad') : badge('healthy', 'ok')) },
  { label: 'Failures', num: true, cell: (p) => fmtInt(p.health.failures) },
  {
    label: '',
    cell: (p) => actionButton(p.enabled ? 'Disable' : 'Enable', { 'data-toggle-proxy': p.id }, async () => {
      await api(`/admin/proxies/${p.id}`, { method: 'PATCH', body: { enabled: !p.enabled } });
      await proxiesView.load();
    }),
  },
  {
    label: '',
    cell: (p) => confirmButton('Delete', { 'data-delete-proxy': p.id }, async () => {
      await api(`/admin/proxies/${p.id}`, { method: 'DELETE' });
      await proxiesView.load();
    }),
  },
];

const BINDING_COLUMNS = [
  { label: 'Bound', cell: (b) => `${b.scope} #${b.subject_id}` },
  { label: 'Proxy', cell: (b) => proxyNames.get(b.proxy_id) ?? `#${b.proxy_id}` },
  { label: 'Since', cell: (b) => fmtTime(b.created_at) },
  {
    label: '',
    cell: (b) => confirmButton('Unbind', {}, async () => {
      await api(`/admin/proxy-bindings/${b.scope}/${b.subject_id}`, { method: 'DELETE' });
      await proxiesView.load();
    }),
  },
];

function proxyForm() {
  const form = formCard('proxy-form', 'Add proxy', 'Add proxy',
    field('Name', { name: 'name', required: true, maxlength: 200 }),
    field('URL', { name: 'url', required: true, maxlength: 2000, placeholder: 'http://host:3128 or socks5://host:1080' }),
    el('div', { class: 'pair' }, field('Username', { name: 'username', maxlength: 255 }), field('Password', { name: 'password', type: 'password', maxlength: 255 })),
    choice('Pool', { name: 'channel_id' }, []));
  onSubmit(form, async (f) => {
    const body = { name: f.get('name').trim(), url: f.get('url').trim(), channel_id: f.get('channel_id') === '' ? null : Number(f.get('channel_id')) };
    if (f.get('username').trim() !== '') body.username = f.get('username').trim();
    if (f.get('password') !== '') body.password = f.get('password');
    const proxy = await api('/admin/proxies', { method: 'POST', body });
    form.reset();
    await proxiesView.load();
    return `Added proxy ${proxy.name} (#${proxy.id}) at ${proxy.url}${proxy.has_credentials ? ' with credentials' : ''}.`;
  });
  return form;
}

function bindForm() {
  const form = formCard('binding-form', 'Bind to a proxy', 'Bind',
    el('div', { class: 'pair' }, choice('Who', { name: 'scope' }, [['user', 'user id'], ['key', 'key id']]), field('Id', { name: 'subject_id', required: true, inputmode: 'numeric' })),
    choice('Proxy', { name: 'proxy_id', required: true }, []));
  onSubmit(form, async (f) => {
    const id = f.get('subject_id').trim();
    if (!/^[1-9]\d{0,15}$/.test(id)) throw new Error('Id must be a user or key id, e.g. 3.');
    const b = await api('/admin/proxy-bindings', { method: 'PUT', body: { scope: f.get('scope'), subject_id: Number(id), proxy_id: Number(f.get('proxy_id')) } });
    await proxiesView.load();
    return `${b.scope} #${b.subject_id} now always leaves through ${proxyNames.get(b.proxy_id) ?? `#${b.proxy_id}`}.`;
  });
  return form;
}

export const proxiesView = {
  name: 'proxies',
  title: 'Proxies',
  mount(root) {
    root.append(
      el('div', { class: 'forms' }, proxyForm(), bindForm()),
      el('section', { class: 'card' }, el('h2', {}, 'Outbound proxies'), el('div', { class: 'scroll' }, el('table', { id: 'proxies-table' }))),
      el('section', { class: 'card' }, el('h2', {}, 'Bindings (a key\'s wins over its user\'s)'), el('div', { class: 'scroll' }, el('table', { id: 'bindings-table' }))),
    );
  },
  async load() {
    const [proxies, bindings, channels] = await Promise.all([api('/admin/proxies'), api('/admin/proxy-bindings'), fetchChannels()]);
    proxyNames = new Map(proxies.data.map((p) => [p.id, p.name]));
    channelNames = new Map(channels.map((c) => [c.id, c.name]));
    fillSelect($('#proxy-form select[name=channel_id]'), channelOptions('global pool'));
    fillSelect($('#binding-form select[name=proxy_id]'), proxies.data.map((p) => [String(p.id), `${p.name} (#${p.id})`]));
    renderTable($('#proxies-table'), PROXY_COLUMNS, proxies.data, 'No outbound proxies: upstream traffic goes direct.');
    renderTable($('#bindings-table'), BINDING_COLUMNS, bindings.data.map((b) => ({ ...b, id: `${b.scope}-${b.subject_id}` })), 'No bindings.');
  },
};
