/**
 * The pure parts of the pages: reading the server's answers (Flower's shapes and the
 * dashboard's), building the tasks query, the workflow tree, and the worker warnings.
 */
import { describe, expect, it } from 'vitest';
import { niceMax } from '../../ui/js/chart.js';
import { beatEntries, scheduleText } from '../../ui/js/pages/beat.js';
import { brokerQueues } from '../../ui/js/pages/broker.js';
import { delayedByQueue, delayedSummary } from '../../ui/js/delayed.js';
import { mergeOverview } from '../../ui/js/pages/overview.js';
import { forestIds, normalizeTask, traceOf, workflowForest, workflowRevoke } from '../../ui/js/pages/task.js';
import { apiParams, filtersFromQuery, taskList } from '../../ui/js/pages/tasks.js';
import { STALE_INSPECT_SEC, workerRows, workerWarnings } from '../../ui/js/pages/workers.js';

describe('delayed tasks (broker and tasks pages)', () => {
  const task = (queue: string) => ({ uuid: `id-${queue}`, name: 't', queue, eta: '', deliver_at: 1, priority: 0, args: '()', kwargs: '{}' });
  it('counts the listed tasks per queue', () => {
    expect(delayedByQueue({ tasks: [task('a'), task('b'), task('a')] })).toEqual({ a: 2, b: 1 });
    expect(delayedByQueue(null)).toEqual({});
  });

  it('says how many wait, and when only the earliest are listed', () => {
    expect(delayedSummary({ supported: true, total: 0, complete: true, tasks: [] })).toBe('No delayed tasks: nothing waits for an ETA or countdown.');
    expect(delayedSummary({ supported: true, total: 1, complete: true, tasks: [task('a')] })).toBe('1 delayed task, waiting for their ETA or countdown.');
    expect(delayedSummary({ supported: true, transport: 'amqp', total: 1200, complete: false, tasks: [task('a'), task('b')] })).toBe(
      '1,200 delayed tasks, waiting for their ETA or countdown (the earliest 2 shown; RabbitMQ: the first 1,000 in the delay queues are read).',
    );
    expect(delayedSummary({ supported: false, tasks: [] })).toBe('This broker does not list delayed tasks.');
  });
});

describe('tasks page', () => {
  it('reads Flower’s uuid-keyed object, an array, and the search endpoint’s page', () => {
    expect(taskList({ a: { name: 'x' }, b: { name: 'y' } })).toEqual([{ uuid: 'a', name: 'x' }, { uuid: 'b', name: 'y' }]);
    expect(taskList({ total: 1, tasks: [{ uuid: 'c' }] })).toEqual([{ uuid: 'c' }]);
    expect(taskList([{ uuid: 'd' }])).toEqual([{ uuid: 'd' }]);
    expect(taskList(null)).toEqual([]);
  });

  it('turns the page URL into API parameters, times read in the chosen zone', () => {
    const f = filtersFromQuery(new URLSearchParams('q=kwargs.user_id:42&state=FAILURE&state=RETRY,LOST&from=2026-07-01T14:30&rtmin=1.5&page=2&size=25&sort=runtime'));
    expect(f.states).toEqual(['FAILURE', 'RETRY', 'LOST']);
    expect(apiParams(f, 'Europe/Paris')).toEqual({
      search: 'kwargs.user_id:42', state: 'FAILURE,RETRY,LOST', taskname: undefined, workername: undefined, queue: undefined,
      received_start: '2026-07-01T12:30:00.000Z', received_end: undefined, runtime_min: '1.5', runtime_max: undefined,
      sort_by: 'runtime', offset: 50, limit: 25,
    });
  });

  it('falls back to safe defaults for a hand-edited URL', () => {
    const f = filtersFromQuery(new URLSearchParams('page=-3&size=100000&state=All'));
    expect(f).toMatchObject({ page: 0, size: 50, states: [], sort: '-received' });
  });
});

describe('task page', () => {
  it('names fields the same whatever the source (store rows are camelCase)', () => {
    expect(normalizeTask({ id: 'x', parentId: 'p', rootId: 'r', groupId: 'g' })).toMatchObject({ uuid: 'x', parent_id: 'p', root_id: 'r', group_id: 'g' });
  });

  it('draws the server’s tree, and builds one from parent ids', () => {
    const tree = workflowForest({ tree: [{ task: { uuid: 'a' }, group_id: null, children: [{ task: { uuid: 'b' }, group_id: 'g1', children: [] }] }] });
    expect(tree[0]?.children[0]?.task).toMatchObject({ uuid: 'b', group_id: 'g1' });
    const built = workflowForest({ tasks: [
      { uuid: 'c', parent_id: 'a', received: 3 }, { uuid: 'a', parent_id: null, received: 1 }, { uuid: 'b', parent_id: 'a', received: 2 },
      { uuid: 'self', parent_id: 'self', received: 4 },
    ] });
    expect(forestIds(built)).toEqual(['a', 'b', 'c', 'self']);
    expect(built[0]?.children.map((n) => n.task.uuid)).toEqual(['b', 'c']);
  });
});

describe('revoke workflow', () => {
  const forest = (...states: string[]) => workflowForest({ tasks: states.map((state, i) => ({ uuid: `t${i}`, parent_id: i === 0 ? null : 't0', state, received: i })) });

  it('counts the tasks it would revoke, custom states among them', () => {
    expect(workflowRevoke(forest('SUCCESS', 'STARTED', 'PENDING', 'PROGRESS'))).toEqual({ label: 'Revoke workflow (3)', unfinished: 3, total: 4, disabledReason: null });
    expect(workflowRevoke(forest('SUCCESS', 'RETRY'))?.label).toBe('Revoke workflow (1)');
  });

  it('is disabled, with its reason, once every member finished', () => {
    expect(workflowRevoke(forest('SUCCESS', 'FAILURE', 'REVOKED', 'LOST'))).toEqual({
      label: 'Revoke workflow', unfinished: 0, total: 4, disabledReason: 'All 4 tasks of this workflow have finished: nothing to revoke',
    });
  });

  it('is not offered for a lone task', () => {
    expect(workflowRevoke(forest('STARTED'))).toBeNull();
    expect(workflowRevoke([])).toBeNull();
  });
});

describe('workers page', () => {
  it('reads /workers?json=1', () => {
    expect(workerRows({ data: [{ hostname: 'w1' }, { nope: 1 }, null] })).toEqual([{ hostname: 'w1' }]);
  });

  it('warns when task events seem off and when inspection is stale', () => {
    expect(workerWarnings({ hostname: 'w', status: true, processed: 10, 'task-received': 0 })).toEqual([expect.stringContaining('events seem off')]);
    expect(workerWarnings({ hostname: 'w', status: true, processed: 10, 'task-received': 10, inspect_age: { stats: STALE_INSPECT_SEC + 5, conf: 1 } })).toEqual([`inspection data is ${STALE_INSPECT_SEC + 5} s old`]);
    expect(workerWarnings({ hostname: 'w', status: false, processed: 10, inspect_age: { stats: 9999 } })).toEqual([]);
  });
});

describe('broker, beat, overview', () => {
  it('reads queues from /api/broker and from Flower’s /api/queues/length', () => {
    expect(brokerQueues({ queues: [{ name: 'celery', messages: 1 }] })).toHaveLength(1);
    expect(brokerQueues({ active_queues: [{ name: 'celery', messages: 1 }, { messages: 2 }] })).toHaveLength(1);
  });

  it('writes schedules as people read them', () => {
    expect(scheduleText({ kind: 'interval', seconds: 30 })).toBe('every 30 s');
    expect(scheduleText({ kind: 'crontab', minute: '0', hour: '4', dayOfMonth: '*', monthOfYear: '*', dayOfWeek: '*', timezone: 'Europe/Paris' })).toBe('crontab 0 4 * * * (Europe/Paris)');
    expect(scheduleText({ kind: 'solar', event: 'sunrise', latitude: 48.8, longitude: 2.3 })).toBe('sunrise at 48.8, 2.3');
    expect(beatEntries({ entries: [{ name: 'a' }, { task: 'no name' }] })).toEqual([{ name: 'a' }]);
  });

  it('merges overview polls without duplicating seconds, keeping 15 minutes', () => {
    let s = mergeOverview({ points: [], queueDepth: [], counts: null }, { points: [{ t: 1, succeeded: 1 }, { t: 2, succeeded: 2 }], queue_depth: [{ t: 1, queues: { q: 3 } }], tasks_by_state: { SUCCESS: 3 } });
    s = mergeOverview(s, { points: [{ t: 2, succeeded: 5 }, { t: 3, succeeded: 1 }] });
    expect(s.points.map((p) => [p.t, p.succeeded])).toEqual([[1, 1], [2, 5], [3, 1]]);
    expect(s.counts).toEqual({ SUCCESS: 3 });
    s = mergeOverview(s, { points: [{ t: 2000, succeeded: 0 }] });
    expect(s.points.map((p) => p.t)).toEqual([2000]);
  });

  it('rounds chart axes to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 1, 7, 11, 240].map(niceMax)).toEqual([1, 0.5, 1, 10, 20, 500]);
  });
});

describe('task page: the trace', () => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736';
  const task = { uuid: 'a', events: [{ type: 'task-received', ts: 1, hostname: 'w', fields: { trace_id: id } }, { type: 'task-started', ts: 2, hostname: 'w', fields: {} }] };

  it('links the trace id of the task-received event with the configured template', () => {
    expect(traceOf(task, 'http://jaeger:16686/trace/{trace_id}')).toEqual({ id, url: `http://jaeger:16686/trace/${id}` });
    expect(traceOf(task, 'https://ui.honeycomb.io/t/environments/e/trace?trace_id={trace_id}&x={trace_id}')?.url).toBe(`https://ui.honeycomb.io/t/environments/e/trace?trace_id=${id}&x=${id}`);
  });

  it('shows the id alone without a usable template, and nothing without an id', () => {
    for (const template of [null, '', 'javascript:alert(1)//{trace_id}', 'http://jaeger/no-placeholder']) expect(traceOf(task, template)).toEqual({ id, url: null });
    expect(traceOf({ uuid: 'b', events: [] }, 'http://j/{trace_id}')).toBeNull();
    expect(traceOf({ uuid: 'c' }, 'http://j/{trace_id}')).toBeNull();
    // Only a W3C trace id is taken: nothing else an event carries becomes part of a link.
    expect(traceOf({ uuid: 'd', events: [{ fields: { trace_id: '"><script>' } }, { fields: { trace_id: 7 } }] }, 'http://j/{trace_id}')).toBeNull();
  });
});

