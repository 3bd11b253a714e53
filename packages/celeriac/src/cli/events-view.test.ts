import { describe, expect, it } from 'vitest';
import { ClusterState } from '../monitor/cluster-state.js';
import type { EventDict } from '../protocol/events.js';
import { fitLine, renderClusterView } from './events-view.js';

const T0 = Date.UTC(2026, 10, 21, 14, 0, 0);
const ev = (type: string, fields: Record<string, unknown>) => ({ type, hostname: 'w1@h', timestamp: T0 / 1000, clock: 1, ...fields }) as EventDict;

describe('renderClusterView', () => {
  it('shows workers with their online state and the latest tasks first', () => {
    const s = new ClusterState();
    s.apply(ev('worker-heartbeat', { freq: 2, active: 1, processed: 3, loadavg: [0.5, 0.25, 0.1], sw_ident: 'py-celery', sw_ver: '5.2.6' }), T0);
    s.apply(ev('worker-heartbeat', { hostname: 'old@h', freq: 2 }), T0 - 60_000);
    s.apply(ev('task-received', { uuid: 'u1', name: 'tapp.add', args: '(2, 3)', kwargs: '{}' }), T0);
    s.apply(ev('task-succeeded', { uuid: 'u1', result: '5', runtime: 0.0231 }), T0);
    s.apply(ev('task-failed', { uuid: 'u2', exception: "ValueError('x')" }), T0 + 1);
    const text = renderClusterView(s, T0 + 1000, { width: 200, height: 40, title: 'celeriac events: redis://x', color: false });
    const lines = text.split('\n');
    expect(lines[0]).toBe('celeriac events: redis://x  2026-11-21 14:00:01 UTC  events: 5');
    expect(text).toContain('Workers: 1 online, 2 known');
    expect(text).toMatch(/○ old@h\s+offline/);
    expect(text).toMatch(/● w1@h\s+online\s+active {3}1\s+processed {6}3\s+load 0\.50 0\.25 0\.10\s+py-celery 5\.2\.6\s+\(heard 1s ago\)/);
    expect(text).toContain('Tasks: FAILURE 1  SUCCESS 1');
    const u2 = lines.findIndex((l) => l.includes('u2'));
    const u1 = lines.findIndex((l) => l.includes('u1'));
    expect(u2).toBeGreaterThan(0);
    expect(u2).toBeLessThan(u1);
    expect(lines[u1]).toMatch(/tapp\.add\s+SUCCESS\s+w1@h\s+14:00:00\s+0\.023s\s+result=5/);
    expect(lines[u2]).toContain("exc=ValueError('x')");
  });

  it('shows a task whose event carried a timestamp no Date holds (a foreign sender\'s), where it threw a RangeError', () => {
    const s = new ClusterState();
    s.apply(ev('task-received', { uuid: 'far', name: 'py.far', timestamp: 1e300 }), T0);
    s.apply(ev('task-started', { uuid: 'far', timestamp: -1e13 }), T0);
    expect(s.task('far')).toMatchObject({ state: 'STARTED', timestamp: null, times: {} });
    expect(renderClusterView(s, T0, { width: 200, height: 40, title: 't', color: false })).toMatch(/far\s+py\.far\s+STARTED\s+w1@h\s+--:--:--/);
  });

  it('fits the screen: lines cut to the width, tasks cut to the height', () => {
    const s = new ClusterState();
    for (let i = 0; i < 50; i++) s.apply(ev('task-received', { uuid: `task-${i}` }), T0 + i);
    const text = renderClusterView(s, T0, { width: 30, height: 12, title: 't', color: true });
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(12);
    const ansi = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`, 'g');
    for (const line of lines) expect(line.replace(ansi, '').length).toBeLessThanOrEqual(30);
    expect(text).toContain('\x1b[34m'); // RECEIVED in colour
  });

  it('says so when nothing is known yet', () => {
    const text = renderClusterView(new ClusterState(), T0, { width: 120, height: 20, title: 't', color: false });
    expect(text).toContain('(none yet');
    expect(text).toContain('Tasks: none yet');
  });
});

describe('fitLine', () => {
  it('counts only visible characters and keeps colour codes', () => {
    expect(fitLine('abcdef', 3)).toBe('abc');
    expect(fitLine('\x1b[32mabcdef\x1b[0m', 2)).toBe('\x1b[32mab\x1b[0m');
  });
});
