// Beat: periodic entries with their schedule, last and next run; pause, resume, run now.
import { canAct, getJson, post } from '../api.js';
import { badge, h, mount } from '../dom.js';
import { formatCount } from '../format.js';
import { timeEl } from '../prefs.js';
import { act } from '../widgets.js';

/** Entries from `api/beat` / `api/beat/entries`: an array, `{entries}` or a name-keyed object. */
export function beatEntries(doc) {
  const list = Array.isArray(doc) ? doc : Array.isArray(doc?.entries) ? doc.entries : doc && typeof doc === 'object' ? Object.entries(doc).filter(([, v]) => v && typeof v === 'object').map(([name, v]) => ({ name, ...v })) : [];
  return list.filter((e) => e && typeof e.name === 'string');
}

/** A schedule as people read it: `every 30 s`, `crontab 0 4 * * * (Europe/Paris)`, `sunrise at 48.8, 2.3`. */
export function scheduleText(s) {
  if (s === null || s === undefined) return '';
  if (typeof s === 'number') return `every ${s} s`;
  if (typeof s === 'string') return s;
  if (s.kind === 'interval') return `every ${s.seconds} s`;
  if (s.kind === 'crontab') return `crontab ${[s.minute, s.hour, s.dayOfMonth, s.monthOfYear, s.dayOfWeek].map((f) => f ?? '*').join(' ')}${s.timezone ? ` (${s.timezone})` : ''}`;
  if (s.kind === 'solar') return `${s.event} at ${s.latitude}, ${s.longitude}`;
  return JSON.stringify(s);
}

export async function render(ctx) {
  let doc = null;
  let error = null;
  const load = async () => {
    try {
      doc = await getJson('api/beat');
      error = null;
    } catch (err) {
      error = err;
    }
  };
  await load();
  if (!ctx.current()) return;
  const body = h('div');
  const draw = () => {
    const entries = beatEntries(doc);
    const e = (name) => encodeURIComponent(name);
    mount(
      body,
      h('h1', null, 'Beat'),
      error ? h('p', { class: 'banner', role: 'status' }, error.status === 404 || error.status === 501 ? `No beat store here: ${error.message}` : `Could not read beat entries: ${error.message}`) : null,
      doc?.leader ? h('p', null, 'Scheduler: ', h('code', null, String(doc.leader)), doc.lease_expires ? [' lease until ', timeEl(doc.lease_expires)] : null) : null,
      entries.length === 0 && !error ? h('p', { class: 'muted' }, 'No periodic entries.') : null,
      entries.length ? h('table', { id: 'beat-table', 'aria-label': 'Periodic entries' },
        h('thead', null, h('tr', null, ['Entry', 'Task', 'Schedule', 'Last run', 'Next run', 'Runs', 'Status', canAct() ? 'Actions' : null].filter(Boolean).map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, entries.map((en) => {
          const paused = en.enabled === false || en.paused === true;
          return h('tr', { dataset: { entry: en.name } },
            h('td', null, en.name),
            h('td', null, en.task ?? ''),
            h('td', null, scheduleText(en.schedule)),
            h('td', null, timeEl(en.last_run_at ?? en.lastRunAt) || h('span', { class: 'muted' }, 'never')),
            h('td', null, paused ? h('span', { class: 'muted' }, 'paused') : timeEl(en.next_run_at ?? en.nextRunAt) || h('span', { class: 'muted', title: 'No running beat has scheduled it yet' }, 'when a beat runs')),
            h('td', { class: 'num' }, formatCount(en.total_run_count ?? en.totalRunCount ?? 0)),
            h('td', null, badge(paused ? 'PAUSED' : 'ACTIVE')),
            canAct() ? h('td', null,
              h('button', { type: 'button', class: 'small', onclick: () => act(paused ? 'Resume entry' : 'Pause entry', `${paused ? 'Resume' : 'Pause'} ${en.name}?`, () => post(`api/beat/${paused ? 'resume' : 'pause'}/${e(en.name)}`), { confirmLabel: paused ? 'Resume' : 'Pause' }).then((r) => r && refresh()) }, paused ? 'Resume' : 'Pause'), ' ',
              h('button', { type: 'button', class: 'small', onclick: () => act('Run now', `Send ${en.task ?? en.name} now, outside its schedule?`, () => post(`api/beat/run/${e(en.name)}`), { confirmLabel: 'Run now' }).then((r) => r && refresh()) }, 'Run now')) : null);
        }))) : null,
    );
  };
  const refresh = async () => {
    await load();
    if (ctx.current()) draw();
  };
  mount(ctx.root, body);
  draw();
  ctx.onLive((type) => type === 'beat' && refresh());
  const timer = setInterval(() => refresh().catch(() => {}), 10_000);
  ctx.cleanup(() => clearInterval(timer));
}
