import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FetchWindow } from './fetch-window.js';

describe('FetchWindow', () => {
  it('counts the room of fetches in flight as taken until they answer', () => {
    const w = new FetchWindow(4);
    expect(w.room(10)).toBe(4);
    w.sent(4);
    expect(w.room(10)).toBe(0);
    w.answered(4, 3);
    expect([w.held, w.inFlight, w.room(10)]).toEqual([3, 0, 1]);
    w.left();
    w.left();
    expect(w.room(10)).toBe(3);
    expect(w.room(2)).toBe(2);
  });

  it('wants a second fetch only with one in flight, a limit, and half the window free', () => {
    const w = new FetchWindow(40);
    w.sent(40);
    w.answered(40, 40);
    const leave = (n: number) => {
      for (let i = 0; i < n; i++) w.left();
    };
    leave(10);
    expect(w.wantsAnother(100)).toBe(false); // none in flight: the loop fetches itself
    w.sent(10);
    leave(10);
    expect([w.room(100), w.wantsAnother(100)]).toEqual([10, false]); // a quarter free
    leave(10);
    expect([w.room(100), w.wantsAnother(100)]).toEqual([20, true]); // half free, the first still out
    w.sent(20);
    leave(20);
    expect(w.wantsAnother(100)).toBe(false); // never a third
    expect(new FetchWindow(0).wantsAnother(100)).toBe(false); // no limit: fetches are batch-sized already
    const wide = new FetchWindow(400);
    wide.sent(100);
    expect(wide.wantsAnother(100)).toBe(false); // batches cap the room below half the window
  });

  it('never gives more room than the window has, whatever the order of sends, answers and settlements', () => {
    const step = fc.oneof(fc.constant('send' as const), fc.constant('answer' as const), fc.constant('leave' as const));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 20 }), fc.array(step, { maxLength: 200 }), (prefetch, batch, steps) => {
        const w = new FetchWindow(prefetch);
        const inFlight: number[] = [];
        for (const s of steps) {
          if (s === 'send' && (inFlight.length === 0 || w.wantsAnother(batch))) {
            const room = w.room(batch);
            if (room > 0) {
              w.sent(room);
              inFlight.push(room);
            }
          } else if (s === 'answer' && inFlight.length > 0) {
            const room = inFlight.shift() as number;
            w.answered(room, room);
          } else if (s === 'leave' && w.held > 0) w.left();
          const reserved = inFlight.reduce((a, b) => a + b, 0);
          if (w.held + reserved > prefetch || inFlight.length > 2) return false;
        }
        return true;
      }),
    );
  });
});
