// The manage tab: one view per kind of object (users, keys, channels and
// their keys, prices, limits, budgets, proxies, filters, services), each with its
// forms and inline edits, chosen by `#manage/<view>`. Every change goes
// through the admin API; its error messages are shown next to the form.

import { $, el } from './dom.js';
import { budgetsView, setBudgetUsers } from './manage-budgets.js';
import { channelsView } from './manage-channels.js';
import { filtersView } from './manage-filters.js';
import { keysView, selectKeyUser, setKeyUsers } from './manage-keys.js';
import { limitsView, setLimitUsers } from './manage-limits.js';
import { pricesView } from './manage-prices.js';
import { proxiesView } from './manage-proxies.js';
import { servicesView, setServiceUsers } from './manage-services.js';
import { usersView } from './manage-users.js';

const VIEWS = [usersView, keysView, channelsView, pricesView, limitsView, budgetsView, proxiesView, filtersView, servicesView];
let shown = null;

/** The view named in the URL (`#manage/keys`), users by default. */
function currentView() {
  const name = location.hash.split('/')[1];
  return VIEWS.find((v) => v.name === name) ?? VIEWS[0];
}

/** Shows the view in the URL; `leaveManage` when the tab is left. */
export function showManage() {
  const view = currentView();
  if (shown !== view) shown?.leave?.();
  shown = view;
  for (const v of VIEWS) $(`#manage-${v.name}`).hidden = v !== view;
  for (const a of document.querySelectorAll('#manage-nav a')) a.classList.toggle('active', a.dataset.view === view.name);
}

/** Leaving the tab: a key shown once goes off the screen. */
export function leaveManage() {
  shown?.leave?.();
  shown = null;
}

/** Reloads the visible view. */
export function loadManage() {
  return currentView().load();
}

/** New user list: every view that names users or offers them as a choice. */
export function setManageUsers(userMap) {
  setKeyUsers(userMap);
  setLimitUsers(userMap);
  setBudgetUsers(userMap);
  setServiceUsers(userMap);
}

/** Builds the views once; `usersChanged` reloads the page-wide user list. */
export function initManage(usersChanged) {
  const nav = $('#manage-nav');
  const root = $('#manage-views');
  const hooks = { usersChanged, userCreated: (user) => selectKeyUser(user.id) };
  for (const view of VIEWS) {
    nav.append(el('a', { href: `#manage/${view.name}`, 'data-view': view.name }, view.title));
    const section = el('section', { id: `manage-${view.name}`, class: 'manage-view', hidden: true });
    root.append(section);
    view.mount(section, hooks);
  }
}
