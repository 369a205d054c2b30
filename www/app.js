// The page: log in, the sections (#/instances, #/images, #/images/ID,
// #/volumes, #/volume-snapshots), and polling that keeps the current
// section up to date: every 2 s while something in it is changing
// (a server building, a snapshot saving, a volume attaching), every 20 s
// otherwise, and not at all while the tab is hidden.
import * as api from './api.js';
import {data} from './data.js';
import {h, clear, toast} from './ui.js';
import instancesView from './instances.js';
import {imagesView, imageDetailView} from './images.js';
import {volumesView, vsnapsView} from './volumes.js';

const FAST_MS = 2000;
const SLOW_MS = 20000;

const $ = id => document.getElementById(id);
let view = null;
let timer = null;
let running = false;
let again = false;
let generation = 0;

function viewOf(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/');
  switch (parts[0]) {
  case 'images':
    return parts[1] ? {key: 'images', make: () => imageDetailView(decodeURIComponent(parts[1]))}
                    : {key: 'images', make: () => imagesView};
  case 'volumes':
    return {key: 'volumes', make: volumesView};
  case 'volume-snapshots':
    return {key: 'volume-snapshots', make: vsnapsView};
  default:
    return {key: 'instances', make: () => instancesView};
  }
}

// Refresh the current view now (and schedule the next refresh).
async function refresh() {
  if (!view) {
    return;
  }
  if (running) {
    again = true;
    return;
  }
  clearTimeout(timer);
  running = true;
  const gen = generation;
  let busy = false;
  try {
    busy = await view.refresh();
  } catch (e) {
    if (e.status !== 401) {
      toast(e.message, 'bad');
    }
  }
  running = false;
  if (gen !== generation || !view) {
    return;
  }
  if (again) {
    again = false;
    refresh();
    return;
  }
  if (!document.hidden) {
    timer = setTimeout(refresh, busy ? FAST_MS : SLOW_MS);
  }
  document.body.dataset.busy = busy ? 'yes' : 'no';
}

function route() {
  if (!api.current()) {
    return;
  }
  const v = viewOf(location.hash);
  generation += 1;
  clearTimeout(timer);
  view = v.make();
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.view === v.key) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  }
  document.title = `${view.title} – vmsnap`;
  const main = $('main');
  view.mount(main, refresh);
  running = false;
  again = false;
  refresh();
}

function showApp() {
  const s = api.current();
  $('login-view').hidden = true;
  $('app-view').hidden = false;
  $('who').textContent = `${s.user.name} · project ${s.project.name}`;
  if (!location.hash || location.hash === '#') {
    history.replaceState(null, '', '#/instances');
  }
  route();
  $('main').focus();
}

// Back to the login form; nothing of the cloud stays on the page.
function showLogin(message) {
  generation += 1;
  clearTimeout(timer);
  view = null;
  clear($('main'));
  clear($('alerts'));
  clear($('toasts'));
  for (const k of Object.keys(data)) {
    data[k] = null;
  }
  for (const d of document.querySelectorAll('dialog')) {
    d.remove();
  }
  $('app-view').hidden = true;
  $('login-view').hidden = false;
  $('who').textContent = '';
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('login-password').value = '';
  const last = localStorage.getItem('vmsnap.last') || '';
  const [u, p] = last.split('\n');
  if (!$('login-user').value && u) {
    $('login-user').value = u;
  }
  if (!$('login-project').value && p) {
    $('login-project').value = p;
  }
  ($('login-user').value ? $('login-password') : $('login-user')).focus();
}

async function onLogin(e) {
  e.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const project = $('login-project').value.trim();
  const err = $('login-error');
  if (!user || !password || !project) {
    err.textContent = 'Enter a user name, a password and a project.';
    err.hidden = false;
    return;
  }
  const btn = $('login-submit');
  btn.disabled = true;
  btn.textContent = 'Logging in…';
  try {
    await api.login(user, password, project);
    localStorage.setItem('vmsnap.last', `${user}\n${project}`);
    $('login-password').value = '';
    err.hidden = true;
    showApp();
  } catch (x) {
    err.textContent = x.status === 401
      ? 'The user name, the password or the project is wrong.'
      : `Cannot log in: ${x.message}`;
    err.hidden = false;
    $('login-password').select();
    $('login-password').focus();
  } finally {
    btn.disabled = false;
    btn.textContent = 'Log in';
  }
}

function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', async () => {
    await api.logout();
    showLogin('You are logged out.');
  });
  api.onExpired(() => showLogin('Your session has ended: log in again.'));
  window.addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && view) {
      refresh();
    }
  });
  if (api.restore()) {
    showApp();
  } else {
    showLogin('');
  }
}

start();
