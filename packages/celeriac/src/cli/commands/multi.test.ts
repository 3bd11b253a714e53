import { describe, expect, it } from 'vitest';
import { nodeOptions, planMulti } from './multi.js';

describe('planMulti', () => {
  it('splits names, program options, file templates and worker options', () => {
    expect(planMulti(['w1', 'w2', '-A', 'app.ts', '-l', 'info', '--pidfile=/run/%n.pid', '-f', '/log/%n.log', '-c', '4'], {})).toEqual({
      names: ['w1', 'w2'],
      globals: ['--app', 'app.ts'],
      worker: ['-l', 'info', '-c', '4'],
      pidfile: '/run/%n.pid',
      logfile: '/log/%n.log',
      perNode: [],
    });
  });

  it("takes Celery's per-node options: by name, position, range and list; a flag without value stays one", () => {
    const plan = planMulti(['w1', 'w2', 'w3', '-c', '2', '-c:w1', '3', '--logfile:w2=/log/two.log', '-Q:2-3', 'images', '-B:3', '--pidfile:1,w3', '/run/x-%n.pid', '-l', 'info'], {});
    expect(plan.worker).toEqual(['-c', '2', '-l', 'info']);
    expect(nodeOptions(plan, 'w1@h', 1)).toEqual({ pidfile: '/run/x-%n.pid', logfile: '%n%I.log', worker: ['-c', '2', '-l', 'info', '-c', '3'] });
    expect(nodeOptions(plan, 'w2@h', 2)).toEqual({ pidfile: '%n.pid', logfile: '/log/two.log', worker: ['-c', '2', '-l', 'info', '-Q', 'images'] });
    expect(nodeOptions(plan, 'w3@h', 3)).toEqual({ pidfile: '/run/x-%n.pid', logfile: '%n%I.log', worker: ['-c', '2', '-l', 'info', '-Q', 'images', '-B'] });
    expect(() => planMulti(['w1', '-n:w1', 'x@h'], {})).toThrow(/-n is set by multi/);
  });

  it("a count names celery1..n; defaults are Celery's %n.pid and %n%I.log", () => {
    expect(planMulti(['3'], { broker: 'redis://x' })).toMatchObject({ names: ['celery1', 'celery2', 'celery3'], globals: ['--broker', 'redis://x'], pidfile: '%n.pid', logfile: '%n%I.log' });
  });

  it('refuses no names, a flag without value, and the flags it sets itself', () => {
    expect(() => planMulti(['-l', 'info'], {})).toThrow(/name at least one node/);
    expect(planMulti(['1024'], {}).names).toHaveLength(1024);
    expect(() => planMulti(['99999999'], {})).toThrow(/99999999 nodes is more than 1024/);
    expect(() => planMulti(['w1', '--pidfile'], {})).toThrow(/--pidfile needs a value/);
    expect(() => planMulti(['w1', '--detach'], {})).toThrow(/--detach is set by multi/);
  });
});
