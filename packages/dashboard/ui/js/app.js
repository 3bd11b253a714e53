// The dashboard's single page: hash routes under whatever prefix the server mounts us at.
import { LiveStream, config, loadConfig, post, urlFor } from './api.js';
import { h, mount } from './dom.js';
import { validZone } from './format.js';
import { parseHash } from './nav.js';
import { setZoneChoice, zoneChoice } from './prefs.js';
import * as overview from './pages/overview.js';
import * as workers from './pages/workers.js';
import * as worker from './pages/worker.js';
import * as tasks from './pages/tasks.js';
import * as task from './pages/task.js';
import * as broker from './pages/broker.js';
import * as beat from './pages/beat.js';

const ROUTES = [
  [/^\/?$/, overview, 'overview'],
  [/^\/workers$/, workers, 'workers'],
  [/^\/worker\/(.+)$/, worker, 'workers'],
  [/^\/tasks$/, tasks, 'tasks'],
  [/^\/task\/(.+)$/, task, 'tasks'],
  [/^\/broker$/, broker, 'broker'],
  [/^\/beat$/, beat, 'beat'],
];

const live = new LiveStream();
let cleanups = [];
let generation = 0;

async function route() {
  for (const fn of cleanups.splice(0)) fn();
  const gen = ++generation;
  const { path, query } = parseHash();
  const main = document.getElementById('main');
  const match = ROUTES.map(([re, page, nav]) => [re.exec(path), page, nav]).find(([m]) => m);
  for (const a of document.querySelectorAll('nav.top a')) {
    if (a.dataset.nav === match?.[2]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!match) {
    mount(main, h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/' }, 'Back to the overview')));
    return;
  }
  const [m, page] = match;
  const ctx = {
    root: main,
    params: m.slice(1).map((p) => decodeURIComponent(p)),
    query,
    live,
    /** True while this page is still the one shown (async work checks before drawing). */
    current: () => gen === generation,
    cleanup: (fn) => cleanups.push(fn),
    onLive: (fn) => cleanups.push(live.on(fn)),
    onReconnect: (fn) => cleanups.push(live.onStatus((status, reopened) => status === 'open' && reopened && fn())),
  };
  mount(main, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'));
  try {
    await page.render(ctx);
  } catch (err) {
    if (!ctx.current()) return;
    console.error(err);
    mount(main, h('h1', null, 'Could not load this page'), h('p', { role: 'alert', class: 'error' }, String(err.message ?? err)));
  }
  if (ctx.current()) main.focus({ preventScroll: true });
}

function zoneControl() {
  const appZone = validZone(config.timezone) ? config.timezone : 'UTC';
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const select = h(
    'select',
    { id: 'zone', onchange: (e) => { setZoneChoice(e.target.value); route(); } },
    h('option', { value: 'browser' }, `Browser (${browserZone})`),
    h('option', { value: 'UTC' }, 'UTC'),
    h('option', { value: 'app' }, `App (${appZone})`),
  );
  select.value = zoneChoice();
  return h('span', { class: 'zone' }, h('label', { for: 'zone' }, 'Times in '), select);
}

function liveIndicator() {
  const el = h('span', { id: 'live-status', class: 'live connecting', role: 'status' }, 'Live: connecting');
  live.onStatus((status) => {
    el.className = `live ${status}`;
    el.textContent = status === 'open' ? 'Live' : status === 'reconnecting' ? 'Live: reconnecting…' : 'Live: connecting';
  });
  return el;
}

/** Seconds between readiness checks behind the broker-down banner. */
const READY_POLL_MS = 5000;

/**
 * Says on every page when the broker is unreachable (from `readyz`: the server marks the
 * broker down when a call to it fails or times out), and clears the banner once it is back.
 */
function watchBroker() {
  const slot = document.getElementById('status-banners');
  if (!slot) return;
  const check = async () => {
    let down = null;
    try {
      const res = await fetch(urlFor('readyz'), { headers: { accept: 'application/json' }, credentials: 'same-origin' });
      const doc = await res.json().catch(() => null);
      const broker = doc?.checks?.broker;
      if (broker && broker.ok === false) down = String(broker.detail ?? 'unreachable');
    } catch {
      down = null; // the dashboard itself is unreachable: the live indicator says so
    }
    mount(slot, down === null ? null : h('p', { class: 'banner error', id: 'broker-down', role: 'alert' }, `Broker unreachable: ${down}. Actions and inspection fail until it is back; the history below still answers.`));
  };
  check();
  setInterval(check, READY_POLL_MS);
}

/** Says, on every page, when no authentication is configured and what anonymous visitors may do. */
function modeBanner() {
  const slot = document.getElementById('mode-banner');
  if (!slot) return;
  if (config.auth === 'anonymous-read-only') mount(slot, h('p', { class: 'banner', id: 'auth-mode', role: 'note' }, 'No authentication is configured: this dashboard is read-only. Configure --basic-auth or --api-tokens to act on the cluster (docs/security.md).'));
  else if (config.auth === 'anonymous-control') mount(slot, h('p', { class: 'banner error', id: 'auth-mode', role: 'note' }, 'No authentication is configured and anonymous control is on: anyone who can open this page can revoke tasks and shut workers down.'));
}

/** Ends the session, then shows a page that says so (a basic-auth browser asks again on reload). */
function logoutButton() {
  if (!config.session || config.user === null) return null;
  return h('button', { type: 'button', id: 'logout', onclick: async () => {
    // Nothing draws after this. A page still loading (the first one, when Log out is clicked
    // as soon as it shows) drew over the message once its data came, and the routes and the
    // live stream would go on asking as a user who left.
    generation++;
    for (const fn of cleanups.splice(0)) fn();
    window.removeEventListener('hashchange', route);
    live.stop();
    await post('logout').catch(() => null);
    mount(document.getElementById('main'), h('h1', null, 'Logged out'), h('p', null, 'Your session has ended. Close the browser to forget a basic-auth password.'));
  } }, 'Log out');
}

async function main() {
  await loadConfig();
  const header = document.getElementById('header-tools');
  mount(header, zoneControl(), liveIndicator(), config.user ? h('span', { class: 'user' }, String(config.user)) : null, config.readOnly ? h('span', { class: 'badge ro' }, 'read-only') : null, logoutButton());
  modeBanner();
  // The skip link must not change the hash (that is the route): it moves focus instead.
  document.getElementById('skip')?.addEventListener('click', (e) => {
    e.preventDefault();
    document.getElementById('main').focus();
  });
  live.start();
  watchBroker();
  window.addEventListener('hashchange', route);
  await route();
}

main();
