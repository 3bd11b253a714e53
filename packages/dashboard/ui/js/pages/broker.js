// Broker: queues with messages per priority bucket, delayed (ETA/countdown) tasks, consumers,
// purge (after confirming).
import { canAct, getJson, post } from '../api.js';
import { delayedByQueue, delayedView, loadDelayed } from '../delayed.js';
import { h, mount } from '../dom.js';
import { formatCount } from '../format.js';
import { act } from '../widgets.js';

/** Queues from `api/broker` ({queues}) or Flower's `api/queues/length` ({active_queues}). */
export function brokerQueues(doc) {
  const list = Array.isArray(doc?.queues) ? doc.queues : Array.isArray(doc?.active_queues) ? doc.active_queues : [];
  return list.filter((q) => q && typeof q.name === 'string');
}

export async function render(ctx) {
  let doc = null;
  let delayed = null;
  const load = async () => {
    [doc, delayed] = await Promise.all([
      getJson('api/broker').catch(async (err) => {
        if (err.status !== 404) throw err;
        return getJson('api/queues/length');
      }),
      loadDelayed(),
    ]);
  };
  await load();
  if (!ctx.current()) return;
  const body = h('div');
  const draw = () => {
    const queues = brokerQueues(doc);
    const steps = [...new Set(queues.flatMap((q) => Object.keys(q.priorities ?? {})))].sort((a, b) => Number(a) - Number(b));
    const hasConsumers = queues.some((q) => q.consumers !== undefined && q.consumers !== null);
    const perQueue = delayedByQueue(delayed);
    // Counted from the listing: exact when it lists them all, else a lower bound ("3+").
    const delayedCell = (q) => `${formatCount(perQueue[q.name] ?? 0)}${delayed?.complete ? '' : '+'}`;
    const purge = (q) => act('Purge queue', `Delete every message waiting in ${q.name} (${formatCount(q.messages)} now${delayed?.supported ? `, ${delayedCell(q)} delayed` : ''})? This cannot be undone.`, () => post(`api/broker/purge/${encodeURIComponent(q.name)}`), { danger: true, confirmLabel: 'Purge' }).then((r) => r && refresh());
    mount(
      body,
      h('h1', null, 'Broker'),
      doc?.url || doc?.broker ? h('p', null, 'Broker: ', h('code', null, String(doc.url ?? doc.broker)), doc.transport ? ` (${doc.transport})` : '') : null,
      queues.length === 0 ? h('p', { class: 'muted' }, 'No queues known yet: queues appear once a worker reports its active queues.') : h(
        'table',
        { id: 'queues-table', 'aria-label': 'Queues' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col' }, 'Queue'),
          h('th', { scope: 'col', class: 'num' }, 'Messages'),
          steps.map((s) => h('th', { scope: 'col', class: 'num' }, `Priority ${s}`)),
          delayed?.supported ? h('th', { scope: 'col', class: 'num' }, 'Delayed') : null,
          h('th', { scope: 'col', class: 'num' }, 'Unacked'),
          hasConsumers ? h('th', { scope: 'col' }, 'Consumers') : null,
          canAct() ? h('th', { scope: 'col' }, 'Actions') : null)),
        h('tbody', null, queues.map((q) => h('tr', { dataset: { queue: q.name } },
          h('td', null, q.name),
          h('td', { class: 'num' }, formatCount(q.messages ?? 0)),
          steps.map((s) => h('td', { class: 'num' }, formatCount(q.priorities?.[s] ?? 0))),
          delayed?.supported ? h('td', { class: 'num delayed' }, delayedCell(q)) : null,
          h('td', { class: 'num' }, q.unacked === undefined || q.unacked === null ? '—' : formatCount(q.unacked)),
          hasConsumers ? h('td', null, Array.isArray(q.consumers) ? q.consumers.join(', ') : formatCount(q.consumers)) : null,
          canAct() ? h('td', null, h('button', { type: 'button', class: 'small danger', onclick: () => purge(q) }, 'Purge…')) : null))),
      ),
      h('p', { class: 'muted' }, 'Messages count what waits in the broker; Delayed, what the broker holds for a later ETA or countdown (purged with its queue); Unacked counts messages workers have taken but not yet acknowledged.'),
      delayed ? h('h2', null, 'Delayed tasks') : null,
      delayedView(delayed),
    );
  };
  const refresh = async () => {
    await load();
    if (ctx.current()) draw();
  };
  mount(ctx.root, body);
  draw();
  ctx.onLive((type, data) => {
    if (type === 'queues') {
      doc = { ...doc, queues: Array.isArray(data) ? data : data?.queues ?? doc?.queues };
      draw();
    }
  });
  const timer = setInterval(() => refresh().catch(() => {}), 5000);
  ctx.cleanup(() => clearInterval(timer));
}
