// Tasks: filters, the search language, sorting and server-side paging, with live rows.
import { ApiError, canAct, getJson, post, urlFor, withQuery } from '../api.js';
import { replaceQuery } from '../nav.js';
import { badge, h, link, mount } from '../dom.js';
import { elide, formatCount, formatDuration, localInputToMs } from '../format.js';
import { timeEl, zone } from '../prefs.js';
import { parseValue, preview } from '../pyrepr.js';
import { act } from '../widgets.js';
import { LiveRows, mergeTask } from '../live-rows.js';
import { delayedView, loadDelayed } from '../delayed.js';

export const STATES = ['PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED', 'REJECTED', 'LOST'];
const SORTABLE = { name: 'name', state: 'state', received: 'received', started: 'started', runtime: 'runtime', worker: 'worker' };
const COLUMNS = [
  ['name', 'Name'], ['uuid', 'UUID'], ['state', 'State'], ['args', 'Args'], ['kwargs', 'Kwargs'], ['result', 'Result'],
  ['received', 'Received'], ['started', 'Started'], ['runtime', 'Runtime'], ['worker', 'Worker'],
];

/** Tasks from an `/api/tasks` answer: Flower's uuid-keyed object, an array, or `{tasks, total}`. */
export function taskList(doc) {
  if (Array.isArray(doc)) return doc;
  if (doc && Array.isArray(doc.tasks)) return doc.tasks;
  if (doc && Array.isArray(doc.rows)) return doc.rows;
  if (doc && typeof doc === 'object') return Object.entries(doc).map(([uuid, t]) => ({ uuid, ...t }));
  return [];
}

function short(text, max = 80) {
  if (text === null || text === undefined || text === '') return '';
  const s = typeof text === 'string' ? text : JSON.stringify(text);
  if (s.length <= max) return s;
  const parsed = parseValue(s);
  return parsed.kind === 'text' ? `${s.slice(0, max - 1)}…` : preview(parsed.node, max);
}

/** Filter state read from the page URL. */
export function filtersFromQuery(q) {
  return {
    search: q.get('q') ?? '',
    states: q.getAll('state').flatMap((s) => s.split(',')).filter((s) => s && s !== 'All'),
    name: q.get('name') ?? '',
    worker: q.get('worker') ?? '',
    queue: q.get('queue') ?? '',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    rtmin: q.get('rtmin') ?? '',
    rtmax: q.get('rtmax') ?? '',
    sort: q.get('sort') ?? '-received',
    page: Math.max(0, Number(q.get('page') ?? 0) || 0),
    size: [25, 50, 100, 200].includes(Number(q.get('size'))) ? Number(q.get('size')) : 50,
  };
}

/** The `/api/tasks` parameters for a filter state. */
export function apiParams(f, timeZone) {
  const from = localInputToMs(f.from, timeZone);
  const to = localInputToMs(f.to, timeZone);
  return {
    search: f.search.trim() || undefined,
    state: f.states.length ? f.states.join(',') : undefined,
    taskname: f.name || undefined,
    workername: f.worker || undefined,
    queue: f.queue || undefined,
    received_start: from === null ? undefined : new Date(from).toISOString(),
    received_end: to === null ? undefined : new Date(to).toISOString(),
    runtime_min: f.rtmin || undefined,
    runtime_max: f.rtmax || undefined,
    sort_by: f.sort,
    offset: f.page * f.size,
    limit: f.size,
  };
}

export async function render(ctx) {
  const f = filtersFromQuery(ctx.query);
  const rows = new Map(); // uuid -> tr
  let tasks = [];
  let hasMore = false;
  let total = null;
  let totalExact = true;
  let totalEstimated = false;
  // Keyset paging: cursors[n] starts page n (after the last task of page n - 1), for the
  // query in cursorsFor; a page without one (opened from a URL) is read by offset.
  let cursors = [];
  let cursorsFor = '';
  let paused = false;
  const selectable = canAct();
  const selected = new Set(); // uuids the user ticked (kept across pages and live updates)

  const searchInput = h('input', { id: 'search', type: 'search', value: f.search, placeholder: 'kwargs.user_id:42 state:FAILURE,RETRY -name:proj.ping "a phrase"', 'aria-describedby': 'search-error search-help', autocomplete: 'off', spellcheck: 'false' });
  const searchError = h('p', { id: 'search-error', class: 'search-error', role: 'alert' });
  const tbody = h('tbody');
  const status = h('span', { class: 'muted', role: 'status', id: 'tasks-status' });
  const pager = h('div', { class: 'pager' });
  const stateBoxes = STATES.map((s) => h('input', { type: 'checkbox', name: 'state', value: s, checked: f.states.includes(s) }));
  const input = (name, label, attrs = {}) => {
    const el = h('input', { id: `f-${name}`, name, value: f[name], ...attrs });
    return [el, h('label', { for: `f-${name}` }, label, el)];
  };
  const [nameIn, nameLabel] = input('name', 'Name', { list: 'task-types', size: 18 });
  const [workerIn, workerLabel] = input('worker', 'Worker', { list: 'worker-names', size: 18 });
  const [queueIn, queueLabel] = input('queue', 'Queue', { size: 10 });
  const [fromIn, fromLabel] = input('from', 'Received from', { type: 'datetime-local', step: 1 });
  const [toIn, toLabel] = input('to', 'Received to', { type: 'datetime-local', step: 1 });
  const [rtminIn, rtminLabel] = input('rtmin', 'Runtime ≥ (s)', { type: 'number', step: 'any', min: 0, size: 6 });
  const [rtmaxIn, rtmaxLabel] = input('rtmax', 'Runtime ≤ (s)', { type: 'number', step: 'any', min: 0, size: 6 });
  const sizeSel = h('select', { id: 'f-size' }, [25, 50, 100, 200].map((n) => h('option', { value: n, selected: n === f.size }, String(n))));
  const typesList = h('datalist', { id: 'task-types' });
  const workersList = h('datalist', { id: 'worker-names' });
  const headRow = h('tr');

  const readForm = () => {
    f.search = searchInput.value;
    f.states = stateBoxes.filter((b) => b.checked).map((b) => b.value);
    f.name = nameIn.value.trim();
    f.worker = workerIn.value.trim();
    f.queue = queueIn.value.trim();
    f.from = fromIn.value;
    f.to = toIn.value;
    f.rtmin = rtminIn.value;
    f.rtmax = rtmaxIn.value;
    f.size = Number(sizeSel.value);
  };
  const saveUrl = () => replaceQuery({ q: f.search.trim(), state: f.states, name: f.name, worker: f.worker, queue: f.queue, from: f.from, to: f.to, rtmin: f.rtmin, rtmax: f.rtmax, sort: f.sort === '-received' ? '' : f.sort, page: f.page || '', size: f.size === 50 ? '' : f.size });

  let inFlight = null;
  // Live updates are followed from before the first fetch (see live-rows.js).
  const live = new LiveRows();
  const load = async () => {
    inFlight?.abort();
    const ac = new AbortController();
    inFlight = ac;
    status.textContent = 'Loading…';
    live.begin();
    let settled = false;
    try {
      const params = apiParams(f, zone());
      const query = JSON.stringify({ ...params, offset: 0 });
      if (query !== cursorsFor) {
        cursors = [];
        cursorsFor = query;
      }
      const after = f.page > 0 ? cursors[f.page] : undefined;
      if (after !== undefined) {
        params.after = after;
        params.offset = 0;
      }
      const res = await fetch(urlFor(withQuery('api/tasks/search', params)), { headers: { accept: 'application/json' }, credentials: 'same-origin', signal: ac.signal });
      if (!res.ok) {
        const text = await res.text();
        let msg = text;
        try {
          msg = JSON.parse(text).error ?? text;
        } catch {
          // text body
        }
        throw new ApiError(res.status, msg || `HTTP ${res.status}`);
      }
      const doc = await res.json();
      const list = taskList(doc);
      // After a cursor the server counts from the cursor on.
      total = typeof doc?.total === 'number' ? doc.total + (after === undefined ? 0 : f.page * f.size) : null;
      totalExact = doc?.total_exact !== false;
      totalEstimated = doc?.total_estimated === true;
      if (typeof doc?.next_cursor === 'string') cursors[f.page + 1] = doc.next_cursor;
      hasMore = doc?.next_cursor !== undefined ? doc.next_cursor !== null
        : total === null ? list.length >= f.size : f.page * f.size + list.length < total;
      settled = true;
      const merged = live.settle(list.slice(0, f.size));
      tasks = merged.tasks;
      if (merged.lookAgain && f.page === 0) refetchSoon();
      searchError.textContent = '';
      searchInput.removeAttribute('aria-invalid');
      draw();
    } catch (err) {
      if (!settled) live.abandon();
      if (err.name === 'AbortError') return;
      if (err.status === 400) {
        searchError.textContent = `Search: ${err.message}`;
        searchInput.setAttribute('aria-invalid', 'true');
        status.textContent = '';
      } else status.textContent = `Could not load tasks: ${err.message}`;
    }
  };

  const cells = (t) => [
    h('td', null, t.name ? h('span', { title: t.name }, elide(t.name, 40)) : h('span', { class: 'muted' }, 'unknown')),
    h('td', { class: 'mono' }, link(`/task/${encodeURIComponent(t.uuid)}`, t.uuid)),
    h('td', null, badge(t.state)),
    h('td', { class: 'mono' }, short(t.args)),
    h('td', { class: 'mono' }, short(t.kwargs)),
    h('td', { class: 'mono' }, t.state === 'FAILURE' || t.state === 'RETRY' ? short(t.exception) : short(t.result)),
    h('td', null, timeEl(t.received)),
    h('td', null, timeEl(t.started)),
    h('td', { class: 'num' }, formatDuration(t.runtime)),
    h('td', null, t.worker ? link(`/worker/${encodeURIComponent(t.worker)}`, elide(t.worker, 32)) : ''),
  ];
  const selectBox = (t) => h('td', { class: 'select' }, h('input', {
    type: 'checkbox', class: 'row-select', checked: selected.has(t.uuid), 'aria-label': `Select ${t.uuid}`,
    onchange: (e) => {
      if (e.target.checked) selected.add(t.uuid);
      else selected.delete(t.uuid);
      drawSelection();
    },
  }));
  const rowOf = (t, fresh) => h('tr', { class: fresh ? 'fresh' : null, dataset: { uuid: t.uuid, state: t.state ?? '' } }, selectable ? selectBox(t) : null, cells(t));

  const draw = () => {
    rows.clear();
    mount(tbody, tasks.length ? tasks.map((t) => {
      const tr = rowOf(t, false);
      rows.set(t.uuid, tr);
      return tr;
    }) : h('tr', null, h('td', { colspan: COLUMNS.length + (selectable ? 1 : 0), class: 'muted' }, 'No tasks match.')));
    const first = f.page * f.size + 1;
    const last = f.page * f.size + tasks.length;
    status.textContent = tasks.length === 0 ? '' : `Tasks ${formatCount(first)}–${formatCount(last)}${total !== null ? ` of ${totalEstimated ? 'about ' : ''}${formatCount(total)}${totalExact || (totalEstimated && total < 10_000) ? '' : '+'}` : hasMore ? ' of more' : ''}`;
    mount(pager,
      h('button', { type: 'button', disabled: f.page === 0, onclick: () => { f.page -= 1; saveUrl(); load(); } }, '← Newer'),
      status,
      h('button', { type: 'button', disabled: !hasMore, onclick: () => { f.page += 1; saveUrl(); load(); } }, 'Older →'),
    );
    mount(headRow, selectable ? h('th', { scope: 'col', class: 'select' }, selectAll) : null, COLUMNS.map(([key, label]) => {
      const sortKey = SORTABLE[key];
      if (!sortKey) return h('th', { scope: 'col' }, label);
      const dir = f.sort === sortKey ? 'ascending' : f.sort === `-${sortKey}` ? 'descending' : 'none';
      return h('th', { scope: 'col', 'aria-sort': dir, class: key === 'runtime' ? 'num' : null }, h('button', {
        type: 'button', class: 'sort',
        onclick: () => { f.sort = f.sort === `-${sortKey}` ? sortKey : `-${sortKey}`; f.page = 0; saveUrl(); load(); },
      }, label, dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''));
    }));
    drawSelection();
  };

  const apply = (e) => {
    e?.preventDefault();
    readForm();
    f.page = 0;
    saveUrl();
    load();
  };
  let debounce = null;
  const applySoon = () => {
    clearTimeout(debounce);
    debounce = setTimeout(apply, 400);
  };

  // Per-row selection: tick rows (or the header box for the whole page), then revoke or
  // terminate them in one request (`api/tasks/revoke`).
  const selectAll = h('input', {
    type: 'checkbox', id: 'select-page', 'aria-label': 'Select every task on this page',
    onchange: (e) => {
      for (const t of tasks) {
        if (e.target.checked) selected.add(t.uuid);
        else selected.delete(t.uuid);
      }
      for (const tr of rows.values()) {
        const box = tr.querySelector('input.row-select');
        if (box) box.checked = e.target.checked;
      }
      drawSelection();
    },
  });
  const selCount = h('span', { class: 'muted', id: 'selected-count', role: 'status' });
  const bulkSelected = (terminate) => h('button', {
    type: 'button', id: terminate ? 'terminate-selected' : 'revoke-selected', class: terminate ? 'danger' : null, disabled: true,
    onclick: () => {
      const ids = [...selected];
      if (!ids.length) return undefined;
      const verb = terminate ? 'Terminate' : 'Revoke';
      const what = terminate ? `Revoke the ${ids.length} selected task(s) and kill them where they run (SIGTERM)?` : `Revoke the ${ids.length} selected task(s)? Workers skip them; running ones finish.`;
      return act(`${verb} selected tasks`, what, () => post('api/tasks/revoke', {}, { json: { ids, terminate } }), { danger: true, confirmLabel: verb }).then((r) => {
        if (!r) return;
        selected.clear();
        load();
      });
    },
  }, terminate ? 'Terminate selected…' : 'Revoke selected…');
  const revokeSel = selectable ? bulkSelected(false) : null;
  const terminateSel = selectable ? bulkSelected(true) : null;
  const drawSelection = () => {
    if (!selectable) return;
    const n = selected.size;
    selCount.textContent = n ? `${formatCount(n)} selected` : '';
    revokeSel.disabled = n === 0;
    terminateSel.disabled = n === 0;
    const onPage = tasks.filter((t) => selected.has(t.uuid)).length;
    selectAll.checked = tasks.length > 0 && onPage === tasks.length;
    selectAll.indeterminate = onPage > 0 && onPage < tasks.length;
  };

  const bulk = canAct() ? h('button', {
    type: 'button',
    onclick: () => {
      const ids = tasks.filter((t) => ['PENDING', 'RECEIVED', 'STARTED', 'RETRY'].includes(t.state)).map((t) => t.uuid);
      if (!ids.length) return act('Revoke', 'No unfinished task on this page.', async () => ({ message: 'Nothing to revoke' }));
      return act('Revoke tasks', `Revoke the ${ids.length} unfinished tasks shown on this page?`, async () => {
        for (const id of ids) await post(`api/task/revoke/${encodeURIComponent(id)}`);
        return { message: `Revoked ${ids.length} task(s)` };
      }, { danger: true, confirmLabel: 'Revoke' }).then((r) => r && load());
    },
  }, 'Revoke unfinished on page…') : null;

  const delayedBox = h('details', { id: 'delayed-tasks' });
  mount(
    ctx.root,
    h('h1', null, 'Tasks'),
    h('div', { role: 'search' },
      h('form', { class: 'search', onsubmit: apply },
        h('label', { for: 'search', class: 'offscreen' }, 'Search tasks'),
        searchInput,
        h('button', { type: 'submit', class: 'primary' }, 'Search')),
      searchError,
      h('details', { id: 'search-help' }, h('summary', null, 'Search language'), searchHelp()),
      h('div', null,
        h('form', { class: 'filters', onsubmit: apply, onchange: applySoon },
          h('fieldset', null, h('legend', null, 'State'), stateBoxes.map((b) => h('label', null, b, b.value))),
          nameLabel, workerLabel, queueLabel, fromLabel, toLabel, rtminLabel, rtmaxLabel,
          h('label', { for: 'f-size' }, 'Per page', sizeSel),
          h('label', null, h('span', null, 'Live'), h('span', null, h('input', { type: 'checkbox', id: 'live-rows', checked: true, onchange: (e) => { paused = !e.target.checked; e.stopPropagation(); } }), ' rows update'))))),
    typesList, workersList,
    h('div', { class: 'actions', role: 'group', 'aria-label': 'Bulk actions' }, revokeSel, terminateSel, selCount, bulk),
    delayedBox,
    pager,
    h('table', { id: 'tasks-table', 'aria-label': 'Tasks', 'aria-describedby': 'tasks-status' }, h('thead', null, headRow), tbody),
  );
  searchInput.addEventListener('input', () => {
    // The box checks as you type, but only after a pause: half-typed queries are not errors yet.
    clearTimeout(debounce);
    debounce = setTimeout(apply, 700);
  });
  // Live rows: a shown task is updated in place; a task not shown makes page one refetch
  // (at most once a second), so filters and search stay the server's to apply. Subscribed
  // before the first fetch, so nothing announced while it is in flight is missed.
  let refetchTimer = null;
  const refetchSoon = () => {
    if (refetchTimer) return;
    refetchTimer = setTimeout(() => {
      refetchTimer = null;
      if (ctx.current() && !paused) load();
    }, 1000);
  };
  ctx.cleanup(() => clearTimeout(refetchTimer));
  ctx.cleanup(() => clearTimeout(debounce));
  ctx.onLive((type, data) => {
    if (paused || (type !== 'tasks' && type !== 'task')) return;
    const changed = Array.isArray(data) ? data : [data];
    let unseen = false;
    for (const t of changed) {
      if (!t || typeof t.uuid !== 'string') continue;
      if (live.update(t, (uuid) => rows.has(uuid)) === 'missing') {
        unseen = true;
        continue;
      }
      const i = tasks.findIndex((x) => x.uuid === t.uuid);
      const merged = mergeTask(tasks[i], t);
      tasks[i] = merged;
      const next = rowOf(merged, true);
      rows.get(t.uuid).replaceWith(next);
      rows.set(t.uuid, next);
    }
    if (unseen && f.page === 0) refetchSoon();
  });
  await load();
  // Tasks waiting in the broker for their ETA: no event tells of them until they arrive.
  const showDelayed = async () => {
    const doc = await loadDelayed();
    if (!ctx.current() || !doc || doc.supported === false) return;
    const total = doc.total ?? doc.tasks.length;
    mount(delayedBox, h('summary', null, `Delayed in the broker (${formatCount(total)})`), delayedView(doc));
  };
  showDelayed().catch(() => {});
  ctx.onReconnect(() => showDelayed().catch(() => {}));
  getJson('api/task/types').then((d) => mount(typesList, (d['task-types'] ?? []).map((n) => h('option', { value: n })))).catch(() => {});
  getJson('workers', { json: 1 }).then((d) => mount(workersList, (d.data ?? []).map((w) => h('option', { value: w.hostname })))).catch(() => {});

  ctx.onReconnect(load);
}

function searchHelp() {
  const ex = (q, what) => h('tr', null, h('td', null, h('code', null, q)), h('td', null, what));
  return h('table', { class: 'help', 'aria-label': 'Search examples' }, h('tbody', null,
    ex('timeout', 'text anywhere in the name, args, kwargs, result or exception; a whole task id finds its task'),
    ex('"connection reset"', 'a phrase'),
    ex('state:FAILURE worker:celery@web1', 'terms side by side must all hold (AND is implied; AND also works)'),
    ex('state:FAILURE OR state:LOST', 'either; state:FAILURE,LOST says the same'),
    ex('NOT name:proj.ping', 'negation; -name:proj.ping says the same'),
    ex('(timeout OR "connection reset") queue:emails', 'grouping with parentheses'),
    ex('name:proj.* worker:*@web1', 'exact name, worker, queue, uuid, root, parent, group; * is a wildcard'),
    ex('kwargs.user_id:42', 'a keyword argument’s value (42 the number or "42" the string)'),
    ex('kwargs.order.total>100', 'a nested keyword argument compared as a number'),
    ex('args:"foo" result:ok exception:ValueError', 'text inside args, kwargs, result, exception or traceback'),
    ex('runtime>2.5 retries>=1', 'numbers compared with > >= < <='),
    ex('received>-1h started<2026-01-31T12:00', 'times: relative (-15m, -2h, -7d), a date, or an ISO time (UTC unless it says)'),
  ));
}
