import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { BlockWatch, type BlockWatchTimers } from './block-watch.js';

/** Time that moves only when told, and a ticker driven by hand. */
function manualTimers() {
  let now = 0;
  const tickers: (() => void)[] = [];
  const timers: BlockWatchTimers = {
    now: () => now,
    every: (_ms, fn) => {
      tickers.push(fn);
      return () => tickers.splice(tickers.indexOf(fn), 1);
    },
  };
  return {
    timers,
    advance: (ms: number) => (now += ms),
    tick: () => tickers.forEach((t) => t()),
    get ticking() {
      return tickers.length;
    },
  };
}

function capture() {
  const lines: { msg: string; taskIds: string[]; blockedMs: number }[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

const run = (task: string, id: string) => ({ message: { headers: { task, id } } });
const spin = run('app.spin', 'id-1');
const other = run('app.io', 'id-2');

describe('BlockWatch', () => {
  it('names a synchronous body that ran longer than the threshold, once, and points to threads/prefork', () => {
    const t = manualTimers();
    const { log, lines } = capture();
    const watch = new BlockWatch(1000, 'async', log, t.timers);
    watch.start();
    expect(watch.call(spin, () => (t.advance(3000), 42))).toBe(42);
    t.tick(); // the ticker sees the same stall: not reported twice
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/^Task app\.spin\[id-1\] blocked the event loop for 3\.00s: the async pool .* -P threads or -P prefork\.$/);
    expect(lines[0]!.taskIds).toEqual(['id-1']);
  });

  it('a quick body is not reported; neither is a block under the threshold', () => {
    const t = manualTimers();
    const { log, lines } = capture();
    const watch = new BlockWatch(1000, 'solo', log, t.timers);
    watch.start();
    watch.call(spin, () => t.advance(999));
    t.advance(250);
    t.tick();
    expect(lines).toEqual([]);
  });

  it('a stall after an await is caught by the ticker, naming the tasks running then', () => {
    const t = manualTimers();
    const { log, lines } = capture();
    const watch = new BlockWatch(1000, 'async', log, t.timers);
    watch.start();
    watch.call(spin, () => undefined); // async body: its first part returns at once
    const spinning = watch.track(spin);
    watch.call(other, () => undefined);
    watch.track(other);
    t.advance(250);
    t.tick();
    t.advance(5000); // spin's continuation computes for 5 s...
    watch.ended(spinning); // ...and ends before the ticker runs again
    t.tick();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/^One of the tasks app\.spin\[id-1\], app\.io\[id-2\] blocked the event loop for 4\.75s/);
    // Ticks on time report nothing more.
    t.advance(250);
    t.tick();
    expect(lines).toHaveLength(1);
  });

  it('a task that started and ended inside the stall is a suspect too; a stall with no task is not reported', () => {
    const t = manualTimers();
    const { log, lines } = capture();
    const watch = new BlockWatch(1000, 'async', log, t.timers);
    watch.start();
    t.advance(5000); // the loop stalled with nothing running: not a task's doing
    t.tick();
    expect(lines).toEqual([]);
    watch.call(spin, () => undefined);
    const spinning = watch.track(spin);
    t.advance(3000);
    watch.ended(spinning);
    t.tick();
    expect(lines.map((l) => l.taskIds)).toEqual([['id-1']]);
  });

  it('a body that ended synchronously is never a suspect of a later stall', () => {
    const t = manualTimers();
    const { log, lines } = capture();
    const watch = new BlockWatch(1000, 'async', log, t.timers);
    watch.start();
    watch.call(spin, () => 1); // quick and synchronous: timed, not tracked
    t.advance(5000); // something else held the loop
    t.tick();
    expect(lines).toEqual([]);
  });

  it('stop ends the ticker', () => {
    const t = manualTimers();
    const watch = new BlockWatch(1000, 'async', capture().log, t.timers);
    watch.start();
    watch.start();
    expect(t.ticking).toBe(1);
    watch.stop();
    expect(t.ticking).toBe(0);
  });
});
