// Worker detail: inspection data in tabs, and every control action behind a confirm dialog.
import { canAct, getJson, post } from '../api.js';
import { badge, dl, h, link, mount, table } from '../dom.js';
import { formatCount, formatDuration } from '../format.js';
import { act } from '../widgets.js';
import { STALE_INSPECT_SEC, workerRows, workerWarnings } from './workers.js';

const TABS = ['Pool', 'Queues', 'Tasks', 'Limits', 'Config', 'Stats'];

function kvOf(obj) {
  if (!obj || typeof obj !== 'object') return h('p', { class: 'muted' }, 'No data.');
  const pairs = Object.entries(obj)
    .filter(([, v]) => v !== null && v !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => [k, typeof v === 'object' ? h('code', null, JSON.stringify(v)) : String(v)]);
  return pairs.length ? dl(pairs) : h('p', { class: 'muted' }, 'No data.');
}

function requestOf(t) {
  return t?.request ?? t ?? {};
}

function taskTable(label, list, withEta = false) {
  if (!Array.isArray(list) || list.length === 0) return [h('h3', null, label), h('p', { class: 'muted' }, 'None.')];
  const headers = ['Name', 'UUID', ...(withEta ? ['ETA'] : []), 'Args', 'Kwargs'];
  const rows = list.slice(0, 500).map((t) => {
    const r = requestOf(t);
    return [r.name ?? r.type ?? '', r.id ? link(`/task/${encodeURIComponent(r.id)}`, r.id) : '', ...(withEta ? [t.eta ?? ''] : []), h('code', null, typeof r.args === 'string' ? r.args : JSON.stringify(r.args ?? '')), h('code', null, typeof r.kwargs === 'string' ? r.kwargs : JSON.stringify(r.kwargs ?? ''))];
  });
  return [h('h3', null, `${label} (${list.length})`), table(headers, rows, { 'aria-label': label })];
}

export async function render(ctx) {
  const name = ctx.params[0];
  let info = {};
  let summary = null;
  let selected = TABS.includes(ctx.query.get('tab')) ? ctx.query.get('tab') : 'Pool';
  const load = async (refresh) => {
    const [doc, list] = await Promise.all([
      getJson('api/workers', { workername: name, refresh: refresh ? 1 : undefined }).catch((err) => (err.status === 404 ? {} : Promise.reject(err))),
      getJson('workers', { json: 1 }).catch(() => ({ data: [] })),
    ]);
    info = doc?.[name] ?? {};
    summary = workerRows(list).find((w) => w.hostname === name) ?? null;
  };
  await load(false);
  if (!ctx.current()) return;
  const body = h('div');
  const draw = () => {
    const stats = info.stats ?? {};
    const pool = stats.pool ?? {};
    const warnings = summary ? workerWarnings(summary) : [];
    const inspectedAt = info.timestamp ? (Date.now() / 1000 - info.timestamp) : null;
    if (inspectedAt !== null && inspectedAt > STALE_INSPECT_SEC && !warnings.some((w) => w.startsWith('inspection'))) warnings.push(`inspection data is ${Math.round(inspectedAt)} s old`);
    if (!info.stats) warnings.push('no inspection reply from this worker yet (it may be busy, offline, or not answering remote control)');
    // WAI-ARIA tabs: one tab in the Tab order, arrow keys move between tabs.
    const select = (t) => {
      selected = t;
      draw();
      document.getElementById(`tab-${t}`)?.focus();
    };
    const tabList = h('div', {
      class: 'tabs', role: 'tablist', 'aria-label': 'Worker details',
      onkeydown: (e) => {
        const i = TABS.indexOf(selected);
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
        if (next === undefined) return;
        e.preventDefault();
        select(TABS[(next + TABS.length) % TABS.length]);
      },
    }, TABS.map((t) => h('button', {
      type: 'button', role: 'tab', id: `tab-${t}`, 'aria-selected': String(t === selected), 'aria-controls': 'tabpanel', tabindex: t === selected ? '0' : '-1',
      onclick: () => select(t),
    }, t)));
    mount(
      body,
      h('h1', null, name, ' ', badge(summary?.status ? 'online' : summary ? 'offline' : 'unknown')),
      warnings.map((w) => h('p', { class: 'banner', role: 'status' }, `${w}.`)),
      actions(),
      summary ? dl([
        ['Active', formatCount(summary.active ?? 0)],
        ['Processed (events seen)', formatCount(summary['task-received'] ?? 0)],
        ['Load average', Array.isArray(summary.loadavg) ? summary.loadavg.join(', ') : ''],
        ['Software', [summary.sw_ident, summary.sw_ver, summary.sw_sys].filter(Boolean).join(' ')],
        ['PID', summary.pid ?? stats.pid],
        ['Uptime', stats.uptime !== undefined ? formatDuration(stats.uptime) : null],
      ]) : null,
      tabList,
      h('div', { id: 'tabpanel', role: 'tabpanel', 'aria-labelledby': `tab-${selected}` }, panel(selected, info, pool, stats)),
    );
  };

  const refresh = async () => {
    await load(true);
    if (ctx.current()) draw();
  };

  function actions() {
    if (!canAct()) return null;
    const w = encodeURIComponent(name);
    return h('div', { class: 'actions', role: 'group', 'aria-label': 'Worker actions' },
      h('button', { type: 'button', onclick: () => refresh() }, 'Refresh'),
      h('button', { type: 'button', onclick: () => act('Grow pool', `Add processes to ${name}'s pool?`, (f) => post(`api/worker/pool/grow/${w}`, { n: f.n }), { fields: [{ name: 'n', label: 'By', type: 'number', value: '1', min: 1 }], confirmLabel: 'Grow' }).then((r) => r && refresh()) }, 'Grow pool'),
      h('button', { type: 'button', onclick: () => act('Shrink pool', `Remove processes from ${name}'s pool?`, (f) => post(`api/worker/pool/shrink/${w}`, { n: f.n }), { fields: [{ name: 'n', label: 'By', type: 'number', value: '1', min: 1 }], confirmLabel: 'Shrink' }).then((r) => r && refresh()) }, 'Shrink pool'),
      h('button', { type: 'button', onclick: () => act('Autoscale', `Set ${name}'s autoscale bounds?`, (f) => post(`api/worker/pool/autoscale/${w}`, { min: f.min, max: f.max }), { fields: [{ name: 'min', label: 'Min', type: 'number', value: '1', min: 0, required: true }, { name: 'max', label: 'Max', type: 'number', value: '4', min: 1, required: true }], confirmLabel: 'Apply' }).then((r) => r && refresh()) }, 'Autoscale'),
      h('button', { type: 'button', onclick: () => act('Restart pool', `Restart ${name}'s pool?`, () => post(`api/worker/pool/restart/${w}`), { confirmLabel: 'Restart' }) }, 'Restart pool'),
      h('button', { type: 'button', class: 'danger', onclick: () => act('Shut down worker', `Shut down ${name}? It stops taking tasks and exits after the running ones (warm shutdown).`, () => post(`api/worker/shutdown/${w}`), { confirmLabel: 'Shut down', danger: true }) }, 'Shut down'),
    );
  }

  function panel(tab, inf, pool, stats) {
    const w = encodeURIComponent(name);
    switch (tab) {
      case 'Pool':
        return [kvOf({ ...pool, 'Worker PID': stats.pid, 'Prefetch count': stats.prefetch_count }), stats.autoscaler ? [h('h3', null, 'Autoscaler'), kvOf(stats.autoscaler)] : null];
      case 'Queues': {
        const queues = Array.isArray(inf.active_queues) ? inf.active_queues : [];
        const addForm = canAct() ? h('p', null, h('button', { type: 'button', onclick: () => act('Add consumer', `Make ${name} consume from a queue?`, (f) => post(`api/worker/queue/add-consumer/${w}`, { queue: f.queue }), { fields: [{ name: 'queue', label: 'Queue', required: true }], confirmLabel: 'Add' }).then((r) => r && refresh()) }, 'Add consumer…')) : null;
        return [
          table(['Name', 'Exchange', 'Routing key', 'Durable', 'Exclusive', 'Auto delete', 'No ack', canAct() ? 'Action' : ''], queues.map((q) => [
            q.name, q.exchange?.name ?? '', q.routing_key ?? '', String(q.durable ?? ''), String(q.exclusive ?? ''), String(q.auto_delete ?? ''), String(q.no_ack ?? ''),
            canAct() ? h('button', { type: 'button', class: 'small', onclick: () => act('Cancel consumer', `Stop ${name} consuming from ${q.name}?`, () => post(`api/worker/queue/cancel-consumer/${w}`, { queue: q.name }), { confirmLabel: 'Cancel consumer', danger: true }).then((r) => r && refresh()) }, 'Cancel consumer') : '',
          ]), { 'aria-label': 'Active queues', id: 'queues-table' }),
          addForm,
        ];
      }
      case 'Tasks': {
        const total = stats.total ?? {};
        return [
          h('h3', null, 'Processed tasks (worker count)'),
          Object.keys(total).length ? table(['Name', 'Count'], Object.entries(total).map(([k, v]) => [k, formatCount(v)])) : h('p', { class: 'muted' }, 'None.'),
          taskTable('Active', inf.active),
          taskTable('Scheduled', inf.scheduled, true),
          taskTable('Reserved', inf.reserved),
          h('h3', null, `Revoked (${(inf.revoked ?? []).length})`),
          (inf.revoked ?? []).length ? h('p', null, (inf.revoked ?? []).slice(0, 500).map((id) => [link(`/task/${encodeURIComponent(id)}`, id), ' '])) : h('p', { class: 'muted' }, 'None.'),
        ];
      }
      case 'Limits': {
        const registered = (inf.registered ?? []).map((r) => String(r).split(' ')[0]);
        if (!registered.length) return h('p', { class: 'muted' }, 'No registered tasks reported.');
        return table(['Task', 'Rate limit', 'Time limits'], registered.map((task) => [
          task,
          canAct() ? h('button', { type: 'button', class: 'small', onclick: () => act('Rate limit', `Set the rate limit of ${task} on ${name}?`, (f) => post(`api/task/rate-limit/${encodeURIComponent(task)}`, { workername: name, ratelimit: f.ratelimit }), { fields: [{ name: 'ratelimit', label: 'Limit (e.g. 10/m, 0 for none)', required: true }], confirmLabel: 'Apply' }) }, 'Set rate limit…') : '',
          canAct() ? h('button', { type: 'button', class: 'small', onclick: () => act('Time limits', `Set the time limits of ${task} on ${name} (seconds)?`, (f) => post(`api/task/timeout/${encodeURIComponent(task)}`, { workername: name, soft: f.soft, hard: f.hard }), { fields: [{ name: 'soft', label: 'Soft', type: 'number', step: 'any', min: 0 }, { name: 'hard', label: 'Hard', type: 'number', step: 'any', min: 0 }], confirmLabel: 'Apply' }) }, 'Set time limits…') : '',
        ]), { 'aria-label': 'Registered tasks' });
      }
      case 'Config':
        return kvOf(inf.conf);
      default: {
        const { pool: _p, total: _t, ...rest } = stats;
        return kvOf(rest);
      }
    }
  }

  mount(ctx.root, body);
  draw();
  ctx.onLive((type, data) => {
    if (type === 'worker' && data?.hostname === name) {
      // Heartbeats come every few seconds: redraw (keeping focus) only when something shown changed.
      const changed = !summary || ['status', 'active', 'task-received', 'pid', 'sw_ver'].some((k) => k in data && String(data[k]) !== String(summary[k]));
      summary = { ...summary, ...data };
      if (!changed) return;
      const focused = document.activeElement?.id;
      draw();
      if (focused) document.getElementById(focused)?.focus();
    } else if (type === 'inspect' && data?.worker === name) load(false).then(() => ctx.current() && draw()).catch(() => {});
  });
}
