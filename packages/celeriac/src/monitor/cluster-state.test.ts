import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClusterState, resolveClusterStateOptions, type EventDict } from './cluster-state.js';

const T0 = 1_795_269_934_000;
const ID = 'd58fc7ba-98a0-432d-8e59-99eb44fc006b';

function ev(type: string, fields: Record<string, unknown> = {}): EventDict {
  return { type, hostname: 'w1@host', timestamp: T0 / 1000, clock: 1, utcoffset: 0, pid: 42, ...fields } as EventDict;
}

const heartbeat = (at: number, extra: Record<string, unknown> = {}) =>
  ev('worker-heartbeat', { timestamp: at / 1000, freq: 2.0, active: 1, processed: 7, loadavg: [0.5, 0.25, 0.1], sw_ident: 'py-celery', sw_ver: '5.2.6', sw_sys: 'Linux', ...extra });

describe('ClusterState workers', () => {
  it('a heartbeat brings a worker online for freq x 2, and it goes offline after that', () => {
    const s = new ClusterState();
    const change = s.apply(heartbeat(T0), T0);
    expect(change).toMatchObject({ kind: 'worker', created: true, subject: 'heartbeat' });
    const w = s.worker('w1@host');
    expect(w).toMatchObject({ hostname: 'w1@host', pid: 42, freq: 2, active: 1, processed: 7, loadavg: [0.5, 0.25, 0.1], swIdent: 'py-celery', swVer: '5.2.6', swSys: 'Linux' });
    expect(s.heartbeatExpires(w!)).toBe(T0 + 4000);
    expect(s.isOnline('w1@host', T0 + 4000)).toBe(true);
    expect(s.isOnline('w1@host', T0 + 4001)).toBe(false);
    s.apply(heartbeat(T0 + 3000), T0 + 3000);
    expect(s.isOnline('w1@host', T0 + 6500)).toBe(true);
  });

  it('uses the local receive time, not the sender timestamp, for the window', () => {
    const s = new ClusterState();
    s.apply(heartbeat(T0 - 3_600_000), T0); // sender clock one hour behind
    expect(s.isOnline('w1@host', T0 + 1000)).toBe(true);
  });

  it('worker-offline takes it offline at once and keeps the record; a new heartbeat revives it', () => {
    const s = new ClusterState();
    s.apply(ev('worker-online', { freq: 2 }), T0);
    expect(s.isOnline('w1@host', T0 + 10)).toBe(true);
    s.apply(ev('worker-offline'), T0 + 100);
    expect(s.isOnline('w1@host', T0 + 101)).toBe(false);
    expect(s.worker('w1@host')?.offlineAt).toBe(T0 + 100);
    s.apply(heartbeat(T0 + 200), T0 + 200);
    expect(s.isOnline('w1@host', T0 + 201)).toBe(true);
    expect(s.worker('w1@host')?.offlineAt).toBeNull();
  });

  it('an unknown worker is offline; a worker never heard from by heartbeat has no expiry', () => {
    const s = new ClusterState();
    expect(s.isOnline('nobody@x', T0)).toBe(false);
    s.apply(ev('worker-offline', { hostname: 'gone@x' }), T0);
    expect(s.heartbeatExpires(s.worker('gone@x')!)).toBeNull();
  });

  it('the expire factor is an option', () => {
    const s = new ClusterState({ heartbeatExpireFactor: 1 });
    s.apply(heartbeat(T0), T0);
    expect(s.isOnline('w1@host', T0 + 2000)).toBe(true);
    expect(s.isOnline('w1@host', T0 + 2001)).toBe(false);
  });

  it('keeps the last four heartbeats in time order, even when they arrive out of order', () => {
    const s = new ClusterState();
    for (const t of [5, 1, 4, 2, 3, 6]) s.apply(heartbeat(T0 + t), T0 + t);
    expect(s.worker('w1@host')?.heartbeats).toEqual([T0 + 3, T0 + 4, T0 + 5, T0 + 6]);
  });

  it('a task event from a worker is a sign of life (default freq 60 s for a worker never heard from)', () => {
    const s = new ClusterState();
    s.apply(ev('task-started', { uuid: ID, hostname: 'quiet@x' }), T0);
    expect(s.worker('quiet@x')?.freq).toBe(60);
    expect(s.isOnline('quiet@x', T0 + 120_000)).toBe(true);
    expect(s.isOnline('quiet@x', T0 + 120_001)).toBe(false);
  });

  it('task-sent is a client event: it names the client and creates no worker', () => {
    const s = new ClusterState();
    s.apply(ev('task-sent', { uuid: ID, hostname: 'gen1@client', name: 'a.b', queue: 'celery', exchange: '', routing_key: 'celery' }), T0);
    expect(s.workers()).toEqual([]);
    expect(s.task(ID)).toMatchObject({ client: 'gen1@client', worker: null, state: 'PENDING', name: 'a.b', routingKey: 'celery', exchange: '' });
  });

  it('drops the least recently heard-from worker past maxWorkers', () => {
    const s = new ClusterState({ maxWorkers: 2 });
    s.apply(heartbeat(T0, { hostname: 'a' }), T0);
    s.apply(heartbeat(T0, { hostname: 'b' }), T0 + 1);
    s.apply(heartbeat(T0, { hostname: 'a' }), T0 + 2);
    s.apply(heartbeat(T0, { hostname: 'c' }), T0 + 3);
    expect(s.workers().map((w) => w.hostname)).toEqual(['a', 'c']);
  });

  it('records are frozen and replaced, so identity shows change', () => {
    const s = new ClusterState();
    s.apply(heartbeat(T0), T0);
    const first = s.worker('w1@host')!;
    expect(Object.isFrozen(first)).toBe(true);
    s.apply(heartbeat(T0 + 1), T0 + 1);
    expect(s.worker('w1@host')).not.toBe(first);
    expect(first.heartbeats).toEqual([T0]);
  });
});

describe('ClusterState tasks', () => {
  const received = ev('task-received', { uuid: ID, name: 'tapp.add', args: '(2, 3)', kwargs: '{}', root_id: ID, parent_id: null, retries: 0, eta: null, expires: null, timestamp: (T0 + 10) / 1000 });
  const started = ev('task-started', { uuid: ID, timestamp: (T0 + 20) / 1000 });
  const succeeded = ev('task-succeeded', { uuid: ID, result: '5', runtime: 0.023, timestamp: (T0 + 30) / 1000 });

  it('folds received -> started -> succeeded', () => {
    const s = new ClusterState();
    expect(s.apply(received, T0 + 11)).toMatchObject({ kind: 'task', created: true, subject: 'received' });
    expect(s.task(ID)?.state).toBe('RECEIVED');
    s.apply(started, T0 + 21);
    expect(s.task(ID)?.state).toBe('STARTED');
    const change = s.apply(succeeded, T0 + 31);
    expect(change).toMatchObject({ kind: 'task', created: false });
    expect(s.task(ID)).toMatchObject({
      uuid: ID, name: 'tapp.add', state: 'SUCCESS', worker: 'w1@host', args: '(2, 3)', kwargs: '{}', result: '5', runtime: 0.023,
      rootId: ID, parentId: null, retries: 0, timestamp: T0 + 30, updatedAt: T0 + 31,
      times: { received: T0 + 10, started: T0 + 20, succeeded: T0 + 30 },
    });
    expect(s.taskNames).toEqual(['tapp.add']);
  });

  it('a late task-started does not move a finished task back', () => {
    const s = new ClusterState();
    s.apply(succeeded, T0);
    s.apply(started, T0 + 1);
    expect(s.task(ID)).toMatchObject({ state: 'SUCCESS', timestamp: T0 + 30, times: { started: T0 + 20, succeeded: T0 + 30 } });
  });

  it('a late task-received fills in name and args but not the state or other fields', () => {
    const s = new ClusterState();
    s.apply(ev('task-failed', { uuid: ID, exception: "ValueError('x')", traceback: 'Traceback...', timestamp: (T0 + 30) / 1000 }), T0);
    s.apply({ ...received, exception: 'should not land' } as EventDict, T0 + 1);
    expect(s.task(ID)).toMatchObject({ state: 'FAILURE', name: 'tapp.add', args: '(2, 3)', exception: "ValueError('x')", traceback: 'Traceback...' });
  });

  it('a late lower event other than received still fills in its fields', () => {
    const s = new ClusterState();
    s.apply(succeeded, T0);
    s.apply(ev('task-sent', { uuid: ID, hostname: 'gen1@c', exchange: 'media', routing_key: 'media.hi' }), T0 + 1);
    expect(s.task(ID)).toMatchObject({ state: 'SUCCESS', exchange: 'media', routingKey: 'media.hi', client: 'gen1@c' });
  });

  it('RETRY is not ranked against unfinished states: a retried task can start again; a late retry never undoes a final state', () => {
    const s = new ClusterState();
    s.apply(started, T0);
    s.apply(ev('task-retried', { uuid: ID, exception: "KeyError('k')" }), T0 + 1);
    expect(s.task(ID)?.state).toBe('RETRY');
    s.apply(received, T0 + 2);
    expect(s.task(ID)?.state).toBe('RECEIVED');
    s.apply(succeeded, T0 + 3);
    s.apply(ev('task-retried', { uuid: ID }), T0 + 4);
    expect(s.task(ID)?.state).toBe('SUCCESS');
  });

  it('revoked and rejected map to their states; a custom subject becomes an upper-case state', () => {
    const s = new ClusterState();
    s.apply(ev('task-revoked', { uuid: 'a', terminated: false, signum: null, expired: true }), T0);
    s.apply(ev('task-rejected', { uuid: 'b', requeue: false }), T0);
    s.apply(ev('task-progress', { uuid: 'c' }), T0);
    expect([s.task('a')?.state, s.task('b')?.state, s.task('c')?.state]).toEqual(['REVOKED', 'REJECTED', 'PROGRESS']);
    expect(s.taskCountsByState()).toEqual({ REVOKED: 1, REJECTED: 1, PROGRESS: 1 });
  });

  it('keeps at most maxTasks, dropping the least recently updated', () => {
    const s = new ClusterState({ maxTasks: 3 });
    for (const id of ['t1', 't2', 't3']) s.apply(ev('task-received', { uuid: id }), T0);
    s.apply(ev('task-started', { uuid: 't1' }), T0 + 1);
    s.apply(ev('task-received', { uuid: 't4' }), T0 + 2);
    expect(s.tasks().map((t) => t.uuid)).toEqual(['t4', 't1', 't3']);
    expect(s.task('t2')).toBeUndefined();
    expect(s.tasks(2).map((t) => t.uuid)).toEqual(['t4', 't1']);
  });

  it('non-string args (from another sender) are kept as JSON text', () => {
    const s = new ClusterState();
    s.apply(ev('task-received', { uuid: ID, args: [1, 2], kwargs: { a: 1 } }), T0);
    expect(s.task(ID)).toMatchObject({ args: '[1,2]', kwargs: '{"a":1}' });
  });

  it('ignores events without a type group, a uuid or a hostname, but counts them', () => {
    const s = new ClusterState();
    expect(s.apply({ type: 'nonsense' } as EventDict, T0)).toBeNull();
    expect(s.apply({ type: 'task-started' } as EventDict, T0)).toBeNull();
    expect(s.apply({ type: 'worker-heartbeat' } as EventDict, T0)).toBeNull();
    expect(s.apply({ type: 'custom-thing', hostname: 'x' } as EventDict, T0)).toBeNull();
    expect(s.eventCount).toBe(4);
    expect(s.tasks()).toEqual([]);
    expect(s.workers()).toEqual([]);
  });

  it('ends in the same state whatever order the events of one run arrive in', () => {
    const events = [
      ev('task-sent', { uuid: ID, hostname: 'gen1@c', name: 'tapp.add', args: '(2, 3)', kwargs: '{}' }),
      received,
      started,
      succeeded,
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(events, { minLength: 4, maxLength: 4 }), (order) => {
        const s = new ClusterState();
        order.forEach((e, i) => s.apply(e, T0 + i));
        const t = s.task(ID)!;
        expect(t.state).toBe('SUCCESS');
        expect(t.name).toBe('tapp.add');
        expect(t.result).toBe('5');
        expect(t.worker).toBe('w1@host');
        expect(t.client).toBe('gen1@c');
      }),
    );
  });
});

describe('resolveClusterStateOptions', () => {
  it('applies defaults and rejects nonsense', () => {
    expect(resolveClusterStateOptions()).toEqual({ maxTasks: 10_000, maxWorkers: 5000, heartbeatExpireFactor: 2 });
    expect(() => resolveClusterStateOptions({ maxTasks: 0 })).toThrow(/maxTasks/);
    expect(() => resolveClusterStateOptions({ heartbeatExpireFactor: Number.NaN })).toThrow(/heartbeatExpireFactor/);
  });
});
