// Overview: live charts of tasks finished per second, runtime percentiles, queue depth.
import { getJson } from '../api.js';
import { h, mount } from '../dom.js';
import { formatCount, formatDuration, formatTime } from '../format.js';
import { lineChart } from '../chart.js';
import { zone } from '../prefs.js';

const KEEP_SEC = 900;
const WINDOWS = [[60, '1 minute'], [300, '5 minutes'], [900, '15 minutes']];

/** Series from `api/overview`: {points: [{t, succeeded, failed, p50, p95, p99}], queueDepth: [{t, queues}]}. */
export function mergeOverview(state, doc) {
  const points = new Map(state.points.map((p) => [p.t, p]));
  for (const p of doc?.points ?? []) if (typeof p?.t === 'number') points.set(p.t, p);
  const depth = new Map(state.queueDepth.map((d) => [d.t, d]));
  for (const d of doc?.queueDepth ?? doc?.queue_depth ?? []) if (typeof d?.t === 'number') depth.set(d.t, d);
  const sorted = [...points.values()].sort((a, b) => a.t - b.t);
  const last = sorted.at(-1)?.t ?? 0;
  return {
    points: sorted.filter((p) => p.t > last - KEEP_SEC),
    queueDepth: [...depth.values()].sort((a, b) => a.t - b.t).filter((d) => d.t > last - KEEP_SEC),
    counts: doc?.tasks_by_state ?? doc?.counts ?? state.counts,
    workers: doc?.workers ?? state.workers,
    events: doc?.events ?? state.events,
  };
}

const CLASSES = ['s-info', 's-warn', 's-muted', 's-ok', 's-bad'];

export async function render(ctx) {
  let state = { points: [], queueDepth: [], counts: null, workers: null, events: null };
  const load = async (since) => {
    const doc = await getJson('api/overview', since ? { since } : {});
    state = mergeOverview(state, doc);
  };
  await load();
  if (!ctx.current()) return;
  const cards = h('div', { class: 'cards' });
  const banners = h('div', { 'aria-live': 'polite' });
  const charts = h('div', { class: 'charts' });
  const fmtX = (t) => formatTime(t * 1000, zone()).slice(11, 19);
  let windowSec = WINDOWS.some(([s]) => String(s) === ctx.query.get('window')) ? Number(ctx.query.get('window')) : 300;
  const windowSel = h('select', { id: 'window', onchange: (e) => { windowSec = Number(e.target.value); draw(); } }, WINDOWS.map(([s, label]) => h('option', { value: s, selected: s === windowSec }, label)));
  const draw = () => {
    const cut = (state.points.at(-1)?.t ?? 0) - windowSec;
    const pts = state.points.filter((p) => p.t > cut);
    const depth = state.queueDepth.filter((d) => d.t > cut);
    const recent = pts.slice(-60);
    const rate = (k) => recent.reduce((a, p) => a + (p[k] ?? 0), 0) / Math.max(1, recent.length);
    const queues = [...new Set(state.queueDepth.flatMap((d) => Object.keys(d.queues ?? {})))].sort();
    const lastDepth = state.queueDepth.at(-1)?.queues ?? {};
    const ev = state.events;
    mount(banners,
      ev && state.workers?.online > 0 && (ev.last_event_age === null || ev.last_event_age > 30) ? h('p', { class: 'banner', role: 'status' }, ev.last_event_age === null ? 'No events received yet: start workers with -E (the dashboard also asks them to enable events every few seconds).' : `No event for ${Math.round(ev.last_event_age)} s although workers are online: are events off (-E)?`) : null,
      ev && ev.dropped > 0 ? h('p', { class: 'banner', role: 'status' }, `${formatCount(ev.dropped)} events were dropped because the history store fell behind.`) : null);
    mount(
      cards,
      state.workers ? h('div', { class: 'card' }, h('a', { href: '#/workers' }, h('div', null, 'Workers online'), h('div', { class: 'big' }, `${state.workers.online} / ${state.workers.online + state.workers.offline}`))) : null,
      h('div', { class: 'card' }, h('div', null, 'Succeeded / s (last minute)'), h('div', { class: 'big' }, rate('succeeded').toFixed(2))),
      h('div', { class: 'card' }, h('div', null, 'Failed / s (last minute)'), h('div', { class: 'big' }, rate('failed').toFixed(2))),
      h('div', { class: 'card' }, h('div', null, 'Waiting in queues'), h('div', { class: 'big' }, formatCount(Object.values(lastDepth).reduce((a, b) => a + Number(b || 0), 0)))),
      state.counts ? Object.entries(state.counts).slice(0, 8).map(([k, v]) => h('div', { class: 'card' }, h('a', { href: `#/tasks?state=${encodeURIComponent(k)}` }, h('div', null, k), h('div', { class: 'big' }, formatCount(v))))) : null,
    );
    mount(
      charts,
      lineChart('Tasks finished per second', [
        { name: 'succeeded', cls: 's-ok', points: pts.map((p) => [p.t, p.succeeded ?? 0]) },
        { name: 'failed', cls: 's-bad', points: pts.map((p) => [p.t, p.failed ?? 0]) },
      ], { formatX: fmtX, formatY: (v) => (v >= 10 ? v.toFixed(0) : v.toFixed(1)) }),
      lineChart('Runtime percentiles', [
        { name: 'p50', cls: 's-info', points: pts.map((p) => [p.t, p.p50 ?? null]) },
        { name: 'p95', cls: 's-warn', points: pts.map((p) => [p.t, p.p95 ?? null]) },
        { name: 'p99', cls: 's-bad', points: pts.map((p) => [p.t, p.p99 ?? null]) },
      ], { formatX: fmtX, formatY: formatDuration }),
      lineChart('Queue depth', queues.length ? queues.slice(0, 5).map((q, i) => ({ name: q, cls: CLASSES[i], points: depth.map((d) => [d.t, d.queues?.[q] ?? null]) })) : [{ name: 'no queues yet', cls: 's-muted', points: [] }], { formatX: fmtX, formatY: (v) => (Number.isInteger(v) ? formatCount(v) : v.toFixed(1)) }),
    );
  };
  mount(ctx.root, h('h1', null, 'Overview'), h('p', null, h('label', { for: 'window' }, 'Show the last '), windowSel), banners, cards, charts, h('p', { class: 'muted' }, 'One point per second (the dashboard keeps 15 minutes), in the time zone chosen above. Long-term graphs: scrape /metrics with Prometheus.'));
  draw();
  const tick = async () => {
    try {
      await load(state.points.at(-1)?.t);
      if (ctx.current()) draw();
    } catch {
      // the next tick retries
    }
  };
  const timer = setInterval(tick, 2000);
  ctx.cleanup(() => clearInterval(timer));
  ctx.onLive((type, data) => {
    if (type === 'overview' && data) {
      state = mergeOverview(state, data);
      draw();
    }
  });
}
