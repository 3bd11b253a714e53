import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../testing/fake-clock.js';
import { Wakeup } from './wakeup.js';

describe('Wakeup.waitBeside', () => {
  it('ends with done when what it waits beside settles, fulfilled or rejected', async () => {
    const clock = new FakeClock(0);
    const wakeup = new Wakeup();
    expect(await wakeup.waitBeside(clock, 1000, Promise.resolve(1))).toBe('done');
    expect(await wakeup.waitBeside(clock, 1000, Promise.reject(new Error('lost')))).toBe('done');
  });

  it('ends with notified or timeout first, and a late settle does not end the next wait', async () => {
    const clock = new FakeClock(0);
    const wakeup = new Wakeup();
    let settle: () => void = () => undefined;
    const beside = new Promise<void>((resolve) => (settle = resolve));
    const first = wakeup.waitBeside(clock, 1000, beside);
    wakeup.notify();
    expect(await first).toBe('notified');
    const second = wakeup.wait(clock, 50);
    settle();
    await beside;
    let ended: string | undefined;
    void second.then((end) => (ended = end));
    await Promise.resolve();
    expect(ended).toBeUndefined();
    clock.advance(50);
    expect(await second).toBe('timeout');
  });

  it('a notification that came before the wait ends it at once', async () => {
    const wakeup = new Wakeup();
    wakeup.notify();
    expect(await wakeup.waitBeside(new FakeClock(0), 1000, new Promise(() => undefined))).toBe('notified');
  });
});
