// Workers: every worker the event stream knows, live, with totals and staleness banners.
import { getJson } from '../api.js';
import { badge, h, link, mount } from '../dom.js';
import { elide, formatAge, formatCount } from '../format.js';

/** Seconds after which inspection data is called stale. */
export const STALE_INSPECT_SEC = 60;

/** Worker rows from `workers?json=1` (Flower's `{data: [...]}`), or a plain array. */
export function workerRows(doc) {
  const rows = Array.isArray(doc) ? doc : Array.isArray(doc?.data) ? doc.data : [];
  return rows.filter((w) => w && typeof w.hostname === 'string');
}

/** Why the UI should warn about a worker, as sentences (events off, stale inspection). */
export function workerWarnings(w) {
  const out = [];
  const received = Number(w['task-received'] ?? 0);
  if (w.events_enabled === false || w.task_events === false) out.push('task events are off on this worker');
  else if (w.status && Number(w.processed ?? 0) > 0 && received === 0) out.push('task events seem off on this worker (it processed tasks but sent no task events); start it with -E');
  const ages = Object.values(w.inspect_age ?? {}).filter((a) => typeof a === 'number');
  if (w.status && ages.length > 0 && Math.max(...ages) > STALE_INSPECT_SEC) out.push(`inspection data is ${Math.round(Math.max(...ages))} s old`);
  return out;
}

function loadText(w) {
  if (!w.status || !Array.isArray(w.loadavg)) return 'N/A';
  return w.loadavg.map((x) => Number(x).toFixed(2)).join(', ');
}

function row(w, now) {
  const last = Array.isArray(w.heartbeats) && w.heartbeats.length ? w.heartbeats[w.heartbeats.length - 1] : null;
  return h(
    'tr',
    { dataset: { worker: w.hostname, status: w.status ? 'online' : 'offline' } },
    h('td', null, link(`/worker/${encodeURIComponent(w.hostname)}`, h('span', { title: w.hostname }, elide(w.hostname)))),
    h('td', null, badge(w.status ? 'online' : 'offline')),
    h('td', { class: 'num' }, formatCount(w.active ?? 0)),
    h('td', { class: 'num' }, formatCount(w['task-received'] ?? 0)),
    h('td', { class: 'num' }, formatCount(w['task-succeeded'] ?? 0)),
    h('td', { class: 'num' }, formatCount(w['task-failed'] ?? 0)),
    h('td', { class: 'num hide-narrow' }, formatCount(w['task-retried'] ?? 0)),
    h('td', { class: 'hide-narrow' }, loadText(w)),
    h('td', { class: 'hide-narrow' }, w.heartbeat_age !== undefined && w.heartbeat_age !== null ? `${Math.round(w.heartbeat_age)} s ago` : last ? formatAge(last, now) : '—'),
    h('td', { class: 'hide-narrow' }, [w.sw_ident, w.sw_ver].filter(Boolean).join(' ')),
  );
}

function totals(rows) {
  const sum = (k) => rows.reduce((a, w) => a + Number(w[k] ?? 0), 0);
  return {
    online: rows.filter((w) => w.status).length,
    active: sum('active'),
    processed: sum('task-received'),
    succeeded: sum('task-succeeded'),
    failed: sum('task-failed'),
  };
}

export async function render(ctx) {
  const workers = new Map();
  const load = async () => {
    const doc = await getJson('workers', { json: 1 });
    workers.clear();
    for (const w of workerRows(doc)) workers.set(w.hostname, w);
  };
  await load();
  if (!ctx.current()) return;
  const cards = h('div', { class: 'cards', 'aria-label': 'Cluster totals' });
  const banners = h('div', { 'aria-live': 'polite' });
  const tbody = h('tbody');
  const draw = () => {
    const now = Date.now();
    const rows = [...workers.values()].sort((a, b) => Number(b.status) - Number(a.status) || a.hostname.localeCompare(b.hostname));
    const t = totals(rows);
    mount(
      cards,
      h('div', { class: 'card' }, h('div', null, 'Online workers'), h('div', { class: 'big', id: 'online-count' }, `${t.online} / ${rows.length}`)),
      h('div', { class: 'card' }, h('a', { href: '#/tasks?state=STARTED' }, h('div', null, 'Active tasks'), h('div', { class: 'big' }, formatCount(t.active)))),
      h('div', { class: 'card' }, h('a', { href: '#/tasks' }, h('div', null, 'Processed'), h('div', { class: 'big' }, formatCount(t.processed)))),
      h('div', { class: 'card' }, h('a', { href: '#/tasks?state=SUCCESS' }, h('div', null, 'Succeeded'), h('div', { class: 'big' }, formatCount(t.succeeded)))),
      h('div', { class: 'card' }, h('a', { href: '#/tasks?state=FAILURE' }, h('div', null, 'Failed'), h('div', { class: 'big' }, formatCount(t.failed)))),
    );
    mount(banners, rows.flatMap((w) => workerWarnings(w).map((msg) => h('p', { class: 'banner', role: 'status' }, `${w.hostname}: ${msg}.`))));
    mount(tbody, rows.length ? rows.map((w) => row(w, now)) : h('tr', null, h('td', { colspan: 10, class: 'muted' }, 'No workers seen yet. Workers appear when they send a heartbeat or answer inspection.')));
  };
  mount(
    ctx.root,
    h('h1', null, 'Workers'),
    cards,
    banners,
    h(
      'table',
      { id: 'workers-table', 'aria-label': 'Workers' },
      h('thead', null, h('tr', null, ['Worker', 'Status', 'Active', 'Processed', 'Succeeded', 'Failed', 'Retried', 'Load average', 'Heartbeat', 'Software'].map((c, i) => h('th', { scope: 'col', class: [2, 3, 4, 5, 6].includes(i) ? 'num' : i >= 6 ? 'hide-narrow' : null }, c)))),
      tbody,
    ),
  );
  draw();
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (ctx.current()) draw();
    });
  };
  ctx.onLive((type, data) => {
    if (type === 'worker' && data?.hostname) {
      workers.set(data.hostname, { ...workers.get(data.hostname), ...data });
      redraw();
    } else if (type === 'worker-gone' && data?.hostname) {
      workers.delete(data.hostname);
      redraw();
    }
  });
  ctx.onReconnect(() => load().then(redraw));
  // Heartbeat ages move even when nothing is pushed.
  const timer = setInterval(() => load().then(redraw).catch(() => {}), 10_000);
  ctx.cleanup(() => clearInterval(timer));
}
