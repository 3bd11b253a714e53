// Task detail: every field, pretty values, the event timeline, the workflow tree, actions.
import { canAct, config, getJson, post } from '../api.js';
import { badge, dl, h, link, mount } from '../dom.js';
import { formatDuration, toMs } from '../format.js';
import { timeEl } from '../prefs.js';
import { act, copyButton, looksCut, valueView } from '../widgets.js';

const TIME_FIELDS = ['sent', 'received', 'started', 'succeeded', 'failed', 'retried', 'revoked', 'rejected', 'timestamp'];
const SHOWN = new Set(['childTasks', 'group_id', 'uuid', 'name', 'state', 'args', 'kwargs', 'result', 'exception', 'traceback', 'worker', 'parent', 'parent_id', 'root', 'root_id', 'children', 'events', 'truncated', 'runtime', 'retries', ...TIME_FIELDS]);
const UNFINISHED = new Set(['PENDING', 'RECEIVED', 'STARTED', 'RETRY']);

/** A task dict with snake_case keys whatever the server sent (store rows are camelCase). */
/**
 * The trace of a task: the id a Celeriac worker put in its task-received event (from the
 * message's traceparent), and the link `template` makes of it; null when none is known.
 */
export function traceOf(t, template) {
  const events = Array.isArray(t.events) ? t.events : [];
  const found = events.map((e) => e?.fields?.trace_id ?? e?.trace_id).find((v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v));
  if (found === undefined) return null;
  const url = typeof template === 'string' && /^https?:\/\//i.test(template) && template.includes('{trace_id}') ? template.split('{trace_id}').join(found) : null;
  return { id: found, url };
}

export function normalizeTask(t) {
  if (!t || typeof t !== 'object') return t;
  return {
    ...t,
    uuid: t.uuid ?? t.id ?? t['task-id'],
    parent_id: t.parent_id ?? t.parentId ?? t.parent ?? null,
    root_id: t.root_id ?? t.rootId ?? t.root ?? null,
    group_id: t.group_id ?? t.groupId ?? null,
    routing_key: t.routing_key ?? t.routingKey ?? null,
  };
}

/**
 * The workflow as a forest: from `{tree}` (nested `{task, children}` or task dicts with
 * `children` arrays of nodes) or from `{tasks}` (linked by parent id). Nodes: {task, children}.
 */
export function workflowForest(doc) {
  if (!doc) return [];
  const asNode = (n) => {
    if (n && n.task) return { task: normalizeTask({ group_id: n.group_id ?? null, ...n.task }), children: (n.children ?? []).map(asNode) };
    const { children = [], ...task } = n ?? {};
    return { task: normalizeTask(task), children: Array.isArray(children) ? children.filter((c) => typeof c === 'object').map(asNode) : [] };
  };
  if (doc.tree) return (Array.isArray(doc.tree) ? doc.tree : [doc.tree]).map(asNode);
  const tasks = (Array.isArray(doc) ? doc : (doc.tasks ?? [])).map(normalizeTask);
  const byId = new Map(tasks.map((t) => [t.uuid, { task: t, children: [] }]));
  const roots = [];
  for (const node of byId.values()) {
    const parent = node.task.parent_id && node.task.parent_id !== node.task.uuid ? byId.get(node.task.parent_id) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  const order = (a, b) => (toMs(a.task.received ?? a.task.sent ?? a.task.timestamp) ?? 0) - (toMs(b.task.received ?? b.task.sent ?? b.task.timestamp) ?? 0);
  const sortDeep = (nodes) => {
    nodes.sort(order);
    for (const n of nodes) sortDeep(n.children);
    return nodes;
  };
  return sortDeep(roots);
}

/** States after which a task never runs again (the server's revoke-workflow skips them). */
const FINISHED = new Set(['SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED', 'LOST', 'IGNORED']);

/**
 * What "Revoke workflow" offers for a forest: null for a lone task; else how many tasks it
 * would revoke, and when none is left (every member finished) the reason it is disabled, so
 * a finished workflow shows no red action.
 */
export function workflowRevoke(forest) {
  const tasks = [];
  const walk = (n) => {
    tasks.push(n.task);
    n.children.forEach(walk);
  };
  forest.forEach(walk);
  if (tasks.length < 2) return null;
  const unfinished = tasks.filter((t) => !FINISHED.has(t.state)).length;
  return {
    label: unfinished > 0 ? `Revoke workflow (${unfinished})` : 'Revoke workflow',
    unfinished,
    total: tasks.length,
    disabledReason: unfinished > 0 ? null : `All ${tasks.length} tasks of this workflow have finished: nothing to revoke`,
  };
}

/** Every task id in a forest. */
export function forestIds(forest) {
  const out = [];
  const walk = (n) => {
    out.push(n.task.uuid);
    n.children.forEach(walk);
  };
  forest.forEach(walk);
  return out;
}

function treeView(forest, selfId) {
  const item = (n) => {
    const t = n.task;
    const label = [t.name ?? 'unknown', ' ', badge(t.state), t.group_id ? h('small', { class: 'muted' }, ` group ${t.group_id.slice(0, 8)}`) : null];
    return h('li', { class: t.uuid === selfId ? 'self' : null }, t.uuid === selfId ? h('span', { 'aria-current': 'true' }, label) : link(`/task/${encodeURIComponent(t.uuid)}`, label), n.children.length ? h('ul', { class: 'tree' }, n.children.map(item)) : null);
  };
  return h('ul', { class: 'tree root', 'aria-label': 'Workflow tree' }, forest.map(item));
}

function timeline(info) {
  let events = Array.isArray(info.events) ? info.events : null;
  if (!events || events.length === 0) {
    events = TIME_FIELDS.filter((k) => k !== 'timestamp' && info[k]).map((k) => ({ type: `task-${k}`, timestamp: info[k], hostname: k === 'sent' ? null : info.worker }));
  }
  events = [...events].sort((a, b) => (toMs(a.timestamp) ?? 0) - (toMs(b.timestamp) ?? 0));
  if (!events.length) return h('p', { class: 'muted' }, 'No events recorded.');
  return h('ol', { class: 'timeline', 'aria-label': 'Event timeline' }, events.slice(0, 1000).map((e) => {
    const extra = e.fields && typeof e.fields === 'object' ? Object.entries(e.fields).filter(([k, v]) => v !== null && v !== undefined && !['uuid', 'type', 'timestamp', 'hostname', 'name', 'root_id', 'parent_id', 'args', 'kwargs', 'result', 'traceback', 'local_received', 'clock', 'utcoffset', 'pid'].includes(k)) : [];
    return h('li', null, h('strong', null, e.type), ' ', timeEl(e.timestamp), e.hostname ? [' on ', h('span', null, e.hostname)] : null, extra.length ? h('small', { class: 'muted' }, ' ', extra.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ').slice(0, 300)) : null);
  }));
}

export async function render(ctx) {
  const id = ctx.params[0];
  let info;
  let forest = [];
  const load = async () => {
    try {
      const d = await getJson(`api/task/detail/${encodeURIComponent(id)}`);
      info = normalizeTask({ ...d.task, events: d.events, truncated: d.truncated, childTasks: d.children });
    } catch (err) {
      if (err.status === 404) info = null;
      else throw err;
    }
    const wf = await getJson(`api/task/workflow/${encodeURIComponent(id)}`).catch(() => null);
    forest = workflowForest(wf);
  };
  await load();
  if (!ctx.current()) return;
  if (!info) {
    mount(ctx.root, h('h1', null, 'Unknown task'), h('p', null, 'No task ', h('code', null, id), ' in the history: it may have been pruned, or sent before the dashboard started watching.'), h('p', null, link('/tasks', 'All tasks')));
    // The history store may write the task a moment after its event is pushed: look again
    // every 2 s while the page is open, and at once when an event names it.
    let again = null;
    const retry = (ms) => {
      clearTimeout(again);
      again = setTimeout(() => ctx.current() && render(ctx), ms);
    };
    retry(2000);
    ctx.cleanup(() => clearTimeout(again));
    ctx.onLive((type, data) => {
      const list = Array.isArray(data) ? data : [data];
      if ((type === 'tasks' || type === 'task') && list.some((t) => t?.uuid === id)) retry(500);
    });
    return;
  }
  const body = h('div');
  let fullResult = null;
  const draw = () => {
    const t = info;
    const enc = encodeURIComponent(t.uuid);
    const truncated = Array.isArray(t.truncated) ? t.truncated : [];
    const ids = forestIds(forest);
    const wfRevoke = workflowRevoke(forest);
    // The store keeps no Lamport clock: its 0 says nothing.
    const trace = traceOf(t, config.traceUrl);
    const others = Object.entries(t).filter(([k, v]) => !SHOWN.has(k) && !(k === 'clock' && v === 0) && v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0));
    const children = Array.isArray(t.children) ? t.children.map((c) => (typeof c === 'string' ? c : c?.uuid)).filter(Boolean) : [];
    mount(
      body,
      h('h1', null, t.name ?? 'Task', ' ', badge(t.state)),
      h('p', { class: 'mono' }, t.uuid, ' ', copyButton(t.uuid, 'Copy id')),
      canAct() ? h('div', { class: 'actions', role: 'group', 'aria-label': 'Task actions' },
        UNFINISHED.has(t.state) ? h('button', { type: 'button', onclick: () => act('Revoke task', `Revoke ${t.name ?? ''} ${t.uuid}? A worker that has not started it discards it.`, () => post(`api/task/revoke/${enc}`), { confirmLabel: 'Revoke', danger: true }).then((r) => r && refresh()) }, 'Revoke') : null,
        t.state === 'STARTED' ? h('button', { type: 'button', class: 'danger', onclick: () => act('Terminate task', `Terminate ${t.uuid}? The worker kills the process running it (signal below).`, (f) => post(`api/task/revoke/${enc}`, { terminate: 'true', signal: f.signal || 'SIGTERM' }), { confirmLabel: 'Terminate', danger: true, fields: [{ name: 'signal', label: 'Signal', value: 'SIGTERM' }] }).then((r) => r && refresh()) }, 'Terminate') : null,
        h('button', { type: 'button', onclick: () => act('Re-run task', `Send ${t.name ?? 'this task'} again with the same arguments, as a new task?`, async () => {
          const r = await post(`api/task/rerun/${enc}`);
          const newId = r?.['task-id'] ?? r?.task_id ?? r?.uuid;
          return { ...r, message: r?.message ?? (newId ? `Sent again as ${newId}` : 'Sent again') };
        }, { confirmLabel: 'Re-run' }).then((r) => {
          const newId = r?.['task-id'] ?? r?.task_id ?? r?.uuid;
          if (newId) location.hash = `#/task/${encodeURIComponent(newId)}`;
        }) }, 'Re-run'),
        wfRevoke === null ? null : wfRevoke.disabledReason !== null
          ? h('button', { type: 'button', disabled: true, title: wfRevoke.disabledReason, 'aria-description': wfRevoke.disabledReason }, wfRevoke.label)
          : h('button', { type: 'button', class: 'danger', onclick: () => act('Revoke workflow', `Revoke the ${wfRevoke.unfinished} unfinished of the ${wfRevoke.total} tasks of this workflow (group, chord or chain)?`, () => post(`api/task/revoke-workflow/${enc}`), { confirmLabel: 'Revoke all', danger: true }).then((r) => r && refresh()) }, wfRevoke.label),
      ) : null,
      dl([
        ['State', badge(t.state)],
        ['Worker', t.worker ? link(`/worker/${encodeURIComponent(t.worker)}`, t.worker) : null],
        ['Runtime', t.runtime !== null && t.runtime !== undefined ? formatDuration(t.runtime) : null],
        ['Retries', t.retries],
        ...TIME_FIELDS.map((k) => [k[0].toUpperCase() + k.slice(1), t[k] ? timeEl(t[k]) : null]),
        ['Parent', t.parent_id ? link(`/task/${encodeURIComponent(t.parent_id)}`, t.parent_id) : null],
        ['Root', t.root_id && t.root_id !== t.uuid ? link(`/task/${encodeURIComponent(t.root_id)}`, t.root_id) : null],
        ['Group', t.group_id ? h('code', null, t.group_id) : null],
        ['Trace', trace === null ? null : trace.url === null ? h('code', null, trace.id) : h('a', { href: trace.url, target: '_blank', rel: 'noopener noreferrer' }, trace.id)],
        ['Children', children.length ? children.map((c) => [link(`/task/${encodeURIComponent(c)}`, c), ' ']) : null],
        ...others.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
      ]),
      valueView('Arguments', t.args ?? null, { truncated: truncated.includes('args') }),
      valueView('Keyword arguments', t.kwargs ?? null, { truncated: truncated.includes('kwargs') }),
      t.state === 'FAILURE' || t.state === 'RETRY' || t.exception ? valueView('Exception', t.exception ?? null) : null,
      t.result === null && fullResult === null && t.state !== 'SUCCESS' ? null : valueView('Result', fullResult ?? t.result ?? null, { truncated: truncated.includes('result') && fullResult === null }),
      (truncated.includes('result') || looksCut(t.result)) && fullResult === null && t.state === 'SUCCESS' ? h('button', { type: 'button', onclick: async () => {
        const r = await getJson(`api/task/result/${enc}`).catch(() => null);
        if (r && 'result' in r) {
          fullResult = typeof r.result === 'string' ? r.result : JSON.stringify(r.result);
          draw();
        }
      } }, 'Fetch the full result from the result backend') : null,
      t.traceback ? h('section', { 'aria-label': 'Traceback' }, h('h3', null, 'Traceback ', copyButton(t.traceback)), h('pre', { class: 'traceback' }, t.traceback)) : null,
      h('h2', null, 'Timeline'),
      timeline(t),
      forest.length && (ids.length > 1 || t.parent_id) ? [h('h2', null, `Workflow (${ids.length} tasks)`), treeView(forest, t.uuid)] : null,
    );
  };
  const refresh = async () => {
    await load();
    if (ctx.current() && info) draw();
  };
  mount(ctx.root, body);
  draw();
  let timer = null;
  ctx.onLive((type, data) => {
    if (type !== 'tasks' && type !== 'task') return;
    const list = Array.isArray(data) ? data : [data];
    const ids = new Set(forestIds(forest));
    const self = list.find((x) => x?.uuid === id);
    const pushed = new Map(list.filter((x) => x?.uuid && ids.has(x.uuid)).map((x) => [x.uuid, x]));
    if (pushed.size) {
      // Tree nodes take the pushed state too, so the tree never lags the header.
      const walk = (n) => {
        const x = pushed.get(n.task.uuid);
        if (x?.state) n.task = { ...n.task, state: x.state };
        n.children.forEach(walk);
      };
      forest.forEach(walk);
      if (!self) draw();
    }
    if (self) {
      // Show the pushed state at once; the timeline follows from the store.
      info = { ...info, ...Object.fromEntries(Object.entries(normalizeTask(self)).filter(([k, v]) => v !== null && v !== undefined && k !== 'children')) };
      draw();
    }
    if (list.some((x) => x && (x.uuid === id || ids.has(x.uuid) || x.parent_id === id || (info.root_id && x.root_id === info.root_id)))) {
      clearTimeout(timer);
      timer = setTimeout(refresh, 1000);
    }
  });
  ctx.cleanup(() => clearTimeout(timer));
  ctx.onReconnect(refresh);
}
