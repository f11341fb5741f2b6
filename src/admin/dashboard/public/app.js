// Entry point: sign-in with the admin token, tabs, the range selector and
// refreshing. Each tab's panels live in their own module.

import { ApiError, api, clearToken, getToken, setToken, setUnauthorizedHandler } from './api.js';
import { $ } from './dom.js';
import { initManage, leaveManage, loadManage, setManageUsers, showManage } from './manage.js';
import { loadOverview } from './overview.js';
import { initRequests, loadRequests, setRequestChoices } from './requests.js';
import { loadServices } from './services.js';

/**
 * Range → [span in ms, step of the time series (60 to 360 points), auto-refresh
 * interval]. Long ranges scan many records and change slowly: refresh them less.
 */
const RANGES = {
  '1h': [3_600_000, '1m', 15_000],
  '6h': [21_600_000, '1m', 30_000],
  '24h': [86_400_000, '5m', 60_000],
  '7d': [604_800_000, '1h', 300_000],
  '30d': [2_592_000_000, '6h', 300_000],
};
const TABS = ['overview', 'requests', 'services', 'manage'];
/** Tabs that follow the range selector (and auto-refresh). */
const RANGED = ['overview', 'services'];

let users = new Map();
let models = [];
let timer = null;
let lastRefresh = 0;
let refreshing = false;

/** `#manage/keys` is the keys view of the manage tab. */
function currentTab() {
  const tab = location.hash.slice(1).split('/')[0];
  return TABS.includes(tab) ? tab : 'overview';
}

function currentRange() {
  const [span, step] = RANGES[$('#range').value] ?? RANGES['1h'];
  const to = Date.now();
  return { from: to - span, to, step };
}

function setStatus(text, bad = false) {
  const p = $('#status');
  p.textContent = text;
  p.classList.toggle('bad', bad);
}

function report(err) {
  // A refused token is handled by the unauthorized handler (back to sign-in).
  if (err instanceof ApiError && err.status === 401) return;
  setStatus(`Error: ${err.message}`, true);
}

async function loadUsers() {
  const list = (await api('/admin/users')).data;
  users = new Map(list.map((u) => [u.id, u]));
  setManageUsers(users);
  setRequestChoices(users, models);
}

/** Reloads the users and the visible tab. */
async function refresh() {
  const tab = currentTab();
  refreshing = true;
  lastRefresh = Date.now();
  setStatus('Loading…');
  try {
    await loadUsers();
    if (tab === 'overview') {
      models = await loadOverview(currentRange(), users);
      setRequestChoices(users, models);
    } else if (tab === 'requests') {
      await loadRequests();
    } else if (tab === 'services') {
      await loadServices(currentRange());
    } else {
      await loadManage();
      // A load counter, so a script (or a test) driving the page knows when a view's data is in.
      const views = $('#manage-views');
      views.dataset.loads = String(Number(views.dataset.loads ?? 0) + 1);
    }
    setStatus(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    report(err);
  } finally {
    refreshing = false;
  }
}

function autoRefresh() {
  const interval = (RANGES[$('#range').value] ?? RANGES['1h'])[2];
  const due = Date.now() - lastRefresh >= interval;
  if (due && !refreshing && $('#auto-refresh').checked && document.visibilityState === 'visible' && RANGED.includes(currentTab())) refresh();
}

function showTab() {
  const tab = currentTab();
  for (const name of TABS) $(`#tab-${name}`).hidden = name !== tab;
  for (const a of document.querySelectorAll('.tabs a')) a.classList.toggle('active', a.dataset.tab === tab);
  $('#range').disabled = !RANGED.includes(tab);
  // A created key is shown once: leaving its view takes it off the screen.
  if (tab === 'manage') showManage();
  else leaveManage();
}

function showLogin(message = '') {
  clearInterval(timer);
  timer = null;
  $('#app').hidden = true;
  $('#login').hidden = false;
  const err = $('#login-error');
  err.textContent = message;
  err.hidden = message === '';
  $('#login-token').focus();
}

function showApp() {
  $('#login').hidden = true;
  $('#app').hidden = false;
  showTab();
  clearInterval(timer);
  timer = setInterval(autoRefresh, 5_000);
  return refresh();
}

async function signIn(e) {
  e.preventDefault();
  const token = $('#login-token').value.trim();
  const button = $('#login-submit');
  button.disabled = true;
  try {
    await api('/api/metrics', { token });
    setToken(token);
    $('#login-token').value = '';
    await showApp();
  } catch (err) {
    const message = err.status === 401 ? 'That token is not valid.' : err.status === 403 ? 'The admin API is disabled on this server: set TOLLGATE_ADMIN_TOKEN.' : err.message;
    showLogin(message);
  } finally {
    button.disabled = false;
  }
}

function init() {
  setUnauthorizedHandler(() => {
    clearToken();
    showLogin('The admin token was refused; sign in again.');
  });
  $('#login-form').addEventListener('submit', signIn);
  $('#logout').addEventListener('click', () => {
    clearToken();
    showLogin();
  });
  $('#refresh').addEventListener('click', refresh);
  $('#range').addEventListener('change', refresh);
  window.addEventListener('hashchange', () => {
    showTab();
    refresh();
  });
  initRequests(report);
  initManage(loadUsers);
  if (getToken() === null) showLogin();
  else showApp();
}

init();
