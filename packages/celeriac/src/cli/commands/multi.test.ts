import { describe, expect, it } from 'vitest';
import { planMulti } from './multi.js';

describe('planMulti', () => {
  it('splits names, program options, file templates and worker options', () => {
    expect(planMulti(['w1', 'w2', '-A', 'app.ts', '-l', 'info', '--pidfile=/run/%n.pid', '-f', '/log/%n.log', '-c', '4'], {})).toEqual({
      names: ['w1', 'w2'],
      globals: ['--app', 'app.ts'],
      worker: ['-l', 'info', '-c', '4'],
      pidfile: '/run/%n.pid',
      logfile: '/log/%n.log',
    });
  });

  it("a count names celery1..n; defaults are Celery's %n.pid and %n%I.log", () => {
    expect(planMulti(['3'], { broker: 'redis://x' })).toMatchObject({ names: ['celery1', 'celery2', 'celery3'], globals: ['--broker', 'redis://x'], pidfile: '%n.pid', logfile: '%n%I.log' });
  });

  it('refuses no names, a flag without value, and the flags it sets itself', () => {
    expect(() => planMulti(['-l', 'info'], {})).toThrow(/name at least one node/);
    expect(() => planMulti(['w1', '--pidfile'], {})).toThrow(/--pidfile needs a value/);
    expect(() => planMulti(['w1', '--detach'], {})).toThrow(/--detach is set by multi/);
  });
});
