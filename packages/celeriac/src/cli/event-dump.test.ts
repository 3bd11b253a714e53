import { describe, expect, it } from 'vitest';
import type { EventDict } from '../protocol/events.js';
import { EventDumper, formatUtcTimestamp, humanizeType } from './event-dump.js';

const ev = (fields: Record<string, unknown>) => ({ hostname: 'py1@vm', utcoffset: 0, pid: 7, clock: 25, timestamp: 1795268089.258586, ...fields }) as unknown as EventDict;

describe('EventDumper', () => {
  it('prints worker events with the human type and sorted fields', () => {
    const line = new EventDumper().format(ev({ type: 'worker-heartbeat', freq: 2.5, active: 0, loadavg: [0.5, 0.25, 0.1], sw_ident: 'py-celery', local_received: 1795268089.3 }));
    expect(line).toBe('py1@vm [2026-11-21 13:34:49.258586] heartbeat: active=0, clock=25, freq=2.5, loadavg=[0.5, 0.25, 0.1], local_received=1795268089.3, pid=7, sw_ident=py-celery, utcoffset=0');
  });

  it('names a task from its received event on later events', () => {
    const d = new EventDumper();
    const id = 'd58fc7ba-98a0-432d-8e59-99eb44fc006b';
    expect(d.format(ev({ type: 'task-received', uuid: id, name: 'interop.add', args: '[1, 1]', kwargs: '{}', eta: null, retries: 0 }))).toBe(
      `py1@vm [2026-11-21 13:34:49.258586] task received: interop.add(${id}) args=[1, 1] kwargs={} clock=25, eta=None, pid=7, retries=0, utcoffset=0`,
    );
    expect(d.format(ev({ type: 'task-succeeded', uuid: id, result: '2', runtime: 0.5 }))).toBe(
      `py1@vm [2026-11-21 13:34:49.258586] task succeeded: interop.add(${id}) args=[1, 1] kwargs={} clock=25, pid=7, result=2, runtime=0.5, utcoffset=0`,
    );
    expect(d.format(ev({ type: 'task-started', uuid: 'unknown' }))).toBe('py1@vm [2026-11-21 13:34:49.258586] task started:  clock=25, pid=7, utcoffset=0');
  });

  it('maps the worker lifecycle names and leaves off the colon when there are no fields', () => {
    expect(['worker-online', 'worker-offline', 'worker-heartbeat', 'task-retried', 'Custom-Thing'].map(humanizeType)).toEqual(['started', 'shutdown', 'heartbeat', 'task retried', 'custom thing']);
    expect(new EventDumper().format({ type: 'worker-online', hostname: 'h', timestamp: 0 } as EventDict)).toBe('h [1970-01-01 00:00:00] started ');
  });

  it('does not modify the event it prints', () => {
    const e = ev({ type: 'task-received', uuid: 'u', name: 'n', args: '()', kwargs: '{}' });
    const copy = structuredClone(e);
    new EventDumper().format(e);
    expect(e).toEqual(copy);
  });
});

describe('formatUtcTimestamp', () => {
  it('prints like str(datetime.utcfromtimestamp(ts))', () => {
    expect(formatUtcTimestamp(1795268089.258586)).toBe('2026-11-21 13:34:49.258586');
    expect(formatUtcTimestamp(1795268089)).toBe('2026-11-21 13:34:49');
    expect(formatUtcTimestamp(1795268089 + 4e-7)).toBe('2026-11-21 13:34:49');
    expect(formatUtcTimestamp(0.000001)).toBe('1970-01-01 00:00:00.000001');
    // A time no Date holds is printed as its number.
    expect(formatUtcTimestamp(1e300)).toBe('1e+300');
    expect(formatUtcTimestamp(-1e13)).toBe('-10000000000000');
    expect(formatUtcTimestamp(Number.NaN)).toBe('nan');
  });
});
