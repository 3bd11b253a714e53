import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../testing/fake-clock.js';
import { PollPace } from './waiting.js';

/** A Celeriac publisher's tag (uuid7) and a kombu one (uuid4). */
const V7 = '019ad1c2-8e2a-7c3b-9d4e-5f6a7b8c9d0e';
const V4 = '2f1d6a3e-8b4c-4d2e-9f1a-3b5c7d9e1f20';

const OPTIONS = { pollIntervalMs: 50, quietPollIntervalMs: 1000, quietAfterMs: 10_000 };

describe('PollPace', () => {
  it('polls fast, doubling from 1 ms to pollIntervalMs, for quietAfterMs from its start; then quietly', () => {
    const clock = new FakeClock(0);
    const pace = new PollPace({ clock, ...OPTIONS });
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => pace.next())).toEqual([1, 2, 4, 8, 16, 32, 50, 50]);
    clock.advance(9_999);
    expect(pace.next()).toBe(50);
    clock.advance(1);
    expect(pace.next()).toBe(1000);
    expect(pace.next()).toBe(1000);
  });

  it('a poll that found messages nobody announced makes it fast again, from 1 ms, for quietAfterMs', () => {
    const clock = new FakeClock(0);
    const pace = new PollPace({ clock, ...OPTIONS });
    clock.advance(20_000);
    expect(pace.next()).toBe(1000);
    pace.fetched([{ tag: V7 }], true);
    expect([pace.next(), pace.next()]).toEqual([1, 2]);
    clock.advance(9_000);
    pace.reset();
    expect(pace.next()).toBe(1);
    clock.advance(1_000);
    expect(pace.next()).toBe(1000);
  });

  it('a fetch of a message no Celeriac publisher wrote (not a uuid7 tag) counts too, polled or not; an empty one or Celeriac\'s unpolled do not', () => {
    const clock = new FakeClock(0);
    const pace = new PollPace({ clock, ...OPTIONS });
    clock.advance(20_000);
    pace.fetched([], true);
    pace.fetched([{ tag: V7 }, { tag: V7 }], false);
    expect(pace.next()).toBe(1000);
    // Fast again, the doubling going on where it was (no poll found it).
    pace.fetched([{ tag: V7 }, { tag: V4 }], false);
    expect(pace.next()).toBeLessThanOrEqual(50);
  });

  it('a break in the pub/sub subscription (unsure) makes it fast again for quietAfterMs, the doubling going on where it was', () => {
    const clock = new FakeClock(0);
    const pace = new PollPace({ clock, ...OPTIONS });
    expect([1, 2, 3, 4, 5, 6, 7].map(() => pace.next()).at(-1)).toBe(50);
    clock.advance(60_000);
    expect(pace.next()).toBe(1000);
    pace.unsure();
    expect(pace.next()).toBe(50);
    // Breaks over and over (a connection failing its reconnects) bring no burst of fast polls.
    pace.unsure();
    pace.unsure();
    expect([pace.next(), pace.next()]).toEqual([50, 50]);
    clock.advance(9_999);
    expect(pace.next()).toBe(50);
    clock.advance(1);
    expect(pace.next()).toBe(1000);
  });
});
