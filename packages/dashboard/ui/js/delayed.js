// Delayed tasks: the ETA / countdown messages the broker holds (api/broker/delayed), shown on
// the broker page and, folded, on the tasks page.
import { getJson } from './api.js';
import { h, link } from './dom.js';
import { elide, formatAge, formatCount } from './format.js';
import { timeEl } from './prefs.js';

/** `api/broker/delayed`, or null when the server has no such route (Flower). */
export async function loadDelayed(limit = 100) {
  return getJson('api/broker/delayed', { limit }).catch((err) => {
    if (err.status === 404) return null;
    return { supported: true, total: null, complete: false, error: err.message, tasks: [] };
  });
}

/** Delayed tasks per queue among those listed: `{queue: n}`. */
export function delayedByQueue(doc) {
  const out = {};
  for (const t of Array.isArray(doc?.tasks) ? doc.tasks : []) out[t.queue] = (out[t.queue] ?? 0) + 1;
  return out;
}

/** The one-line summary: `3 delayed tasks`, `1,200 delayed tasks (the earliest 100 shown)`. */
export function delayedSummary(doc) {
  if (!doc || doc.supported === false) return 'This broker does not list delayed tasks.';
  const listed = Array.isArray(doc.tasks) ? doc.tasks.length : 0;
  const total = doc.total ?? listed;
  const noun = `${formatCount(total)} delayed ${total === 1 ? 'task' : 'tasks'}`;
  if (total === 0) return 'No delayed tasks: nothing waits for an ETA or countdown.';
  if (doc.complete || listed >= total) return `${noun}, waiting for their ETA or countdown.`;
  const shown = listed === 0 ? 'none could be read' : `the earliest ${formatCount(listed)} shown`;
  return `${noun}, waiting for their ETA or countdown (${shown}${doc.transport === 'amqp' ? '; RabbitMQ: the first 1,000 in the delay queues are read' : ''}).`;
}

/** The summary and the table of delayed tasks (due time, in how long, queue, task, id, args). */
export function delayedView(doc, nowMs = Date.now()) {
  if (!doc) return null;
  const tasks = Array.isArray(doc.tasks) ? doc.tasks : [];
  return h('section', { id: 'delayed', 'aria-label': 'Delayed tasks' },
    h('p', { id: 'delayed-summary' }, delayedSummary(doc)),
    doc.error ? h('p', { class: 'error', role: 'alert' }, doc.error) : null,
    tasks.length === 0 ? null : h('table', { id: 'delayed-table', 'aria-label': 'Delayed tasks' },
      h('thead', null, h('tr', null, ['Due', 'In', 'Queue', 'Task', 'UUID', 'Args', 'Kwargs'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, tasks.map((t) => h('tr', { dataset: { uuid: t.uuid } },
        h('td', null, timeEl(t.deliver_at)),
        h('td', null, formatAge(t.deliver_at, nowMs)),
        h('td', null, t.queue),
        h('td', null, t.name),
        h('td', { class: 'mono' }, link(`/task/${encodeURIComponent(t.uuid)}`, h('code', null, t.uuid))),
        h('td', null, h('code', null, elide(t.args, 60))),
        h('td', null, h('code', null, elide(t.kwargs, 60))))))),
  );
}
