/** Signals: registration, order, async waits, failures logged and skipped, names checked. */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { Signals } from './signals.js';
import { ErrorCodes } from '../errors.js';

function setup() {
  const logged: { msg: string; signal: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logged.push(JSON.parse(chunk.toString()) as { msg: string; signal: string });
      done();
    },
  });
  const signals = new Signals(() => pino({ level: 'error' }, sink));
  return { signals, logged };
}

const ready = { hostname: 'w@h' };

describe('Signals', () => {
  it('calls handlers in registration order; undefined when all returned at once', () => {
    const { signals } = setup();
    const seen: number[] = [];
    signals.on('workerReady', () => void seen.push(1));
    signals.on('workerReady', () => void seen.push(2));
    expect(signals.emit('workerReady', ready)).toBeUndefined();
    expect(seen).toEqual([1, 2]);
  });

  it('waits for an async handler before calling the next', async () => {
    const { signals } = setup();
    const seen: string[] = [];
    signals.on('workerReady', () => void seen.push('a'));
    signals.on('workerReady', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      seen.push('b');
    });
    signals.on('workerReady', () => void seen.push('c'));
    const pending = signals.emit('workerReady', ready);
    expect(pending).toBeInstanceOf(Promise);
    expect(seen).toEqual(['a']);
    await pending;
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('logs a handler that throws or rejects and calls the rest', async () => {
    const { signals, logged } = setup();
    const seen: string[] = [];
    signals.on('workerInit', () => {
      throw new Error('sync boom');
    });
    signals.on('workerInit', () => Promise.reject(new Error('async boom')));
    signals.on('workerInit', () => void seen.push('after'));
    await signals.emit('workerInit', ready);
    expect(seen).toEqual(['after']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged.map((l) => [l.signal, l.msg])).toEqual([
      ['workerInit', 'a workerInit signal handler failed (ignored: the task and worker go on)'],
      ['workerInit', 'a workerInit signal handler failed (ignored: the task and worker go on)'],
    ]);
  });

  it('removes a handler with the function on() returns, or off()', () => {
    const { signals } = setup();
    const seen: string[] = [];
    const a = () => void seen.push('a');
    const b = () => void seen.push('b');
    const offA = signals.on('workerShutdown', a);
    signals.on('workerShutdown', b);
    offA();
    signals.emit('workerShutdown', ready);
    signals.off('workerShutdown', b);
    expect(signals.has('workerShutdown')).toBe(false);
    signals.emit('workerShutdown', ready);
    expect(seen).toEqual(['b']);
  });

  it('a handler added while a signal is being sent does not run for that send', async () => {
    const { signals } = setup();
    const seen: string[] = [];
    signals.on('workerReady', async () => {
      signals.on('workerReady', () => void seen.push('late'));
      await Promise.resolve();
      seen.push('first');
    });
    await signals.emit('workerReady', ready);
    expect(seen).toEqual(['first']);
  });

  it("refuses an unknown name, pointing a Celery name to its camelCase form", () => {
    const { signals } = setup();
    expect(() => signals.on('task_prerun' as never, () => undefined)).toThrow(/Celery's task_prerun is 'taskPrerun'/);
    expect(() => signals.on('nope' as never, () => undefined)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    expect(() => signals.on('taskPrerun', 'x' as never)).toThrow(/must be a function/);
  });
});
