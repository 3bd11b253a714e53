/**
 * ResultSubscriptions' lazy UNSUBSCRIBE, against a recording stand-in for the subscriber
 * connection (a pure unit: the order and the event-loop turn of each pub/sub command are what
 * is checked; test/redis/backend/redis-backend.test.ts runs the same on a real Redis).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LazyRedisClient } from '../../redis/lazy-client.js';
import type { ResultMeta } from '../../protocol/types.js';
import { encodeResultMeta } from '../../protocol/result.js';
import { ResultSubscriptions, UNSUBSCRIBE_HELD_MAX, UNSUBSCRIBE_LINGER_MS } from './result-subscriptions.js';

type Dispatch = (message: string) => void;

/** Records each (un)subscribe with the turn it was asked in; node-redis's listener accounting kept. */
function recordingConnection() {
  let turn = 0;
  const tick = () => {
    turn++;
    setImmediate(tick).unref();
  };
  setImmediate(tick).unref();
  const calls: { op: 'subscribe' | 'unsubscribe'; channel: string; turn: number }[] = [];
  const listeners = new Map<string, Set<Dispatch>>();
  const client = {
    subscribe(channel: string, fn: Dispatch) {
      calls.push({ op: 'subscribe', channel, turn });
      const set = listeners.get(channel) ?? new Set();
      set.add(fn);
      listeners.set(channel, set);
      return Promise.resolve();
    },
    unsubscribe(channel: string, fn: Dispatch) {
      calls.push({ op: 'unsubscribe', channel, turn });
      listeners.get(channel)?.delete(fn);
      if (listeners.get(channel)?.size === 0) listeners.delete(channel);
      return Promise.resolve();
    },
  };
  const publish = (channel: string, text: string) => {
    for (const fn of listeners.get(channel) ?? []) fn(text);
  };
  const connection = { connect: () => Promise.resolve(client) } as unknown as LazyRedisClient;
  return { connection, calls, publish, subscribed: () => [...listeners.keys()] };
}

const meta = (id: string): ResultMeta => ({ status: 'SUCCESS', result: 1, traceback: null, children: [], date_done: null, task_id: id });

describe('ResultSubscriptions: lazy UNSUBSCRIBE', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the UNSUBSCRIBE of a channel left without listeners and sends it in the turn of the next SUBSCRIBE, before it', async () => {
    const { connection, calls, subscribed } = recordingConnection();
    const subs = new ResultSubscriptions(connection, () => undefined);
    const offA = await subs.add('a', () => undefined);
    await offA();
    expect(subscribed()).toEqual(['a']);
    expect(calls.filter((c) => c.op === 'unsubscribe')).toEqual([]);
    await subs.add('b', () => undefined);
    const unsub = calls.find((c) => c.op === 'unsubscribe' && c.channel === 'a');
    const sub = calls.find((c) => c.op === 'subscribe' && c.channel === 'b');
    expect(unsub).toBeDefined();
    expect(unsub?.turn).toBe(sub?.turn);
    expect(calls.indexOf(unsub!)).toBeLessThan(calls.indexOf(sub!));
    expect(subscribed()).toEqual(['b']);
    subs.clear();
  });

  it('sends a held UNSUBSCRIBE on its own after the linger when no SUBSCRIBE comes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { connection, subscribed } = recordingConnection();
    const subs = new ResultSubscriptions(connection, () => undefined);
    const off = await subs.add('a', () => undefined);
    await off();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS - 1);
    expect(subscribed()).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(subscribed()).toEqual([]);
  });

  it('sends every held UNSUBSCRIBE at once past the bound', async () => {
    const { connection, subscribed } = recordingConnection();
    const subs = new ResultSubscriptions(connection, () => undefined);
    const offs = await Promise.all(Array.from({ length: UNSUBSCRIBE_HELD_MAX }, (_, i) => subs.add(`c${i}`, () => undefined)));
    for (const off of offs.slice(0, -1)) await off();
    expect(subscribed()).toHaveLength(UNSUBSCRIBE_HELD_MAX);
    await offs.at(-1)!();
    await Promise.resolve();
    expect(subscribed()).toEqual([]);
    subs.clear();
  });

  it('takes a held channel back without a command, and only its new listener hears it', async () => {
    const { connection, calls, publish } = recordingConnection();
    const subs = new ResultSubscriptions(connection, () => undefined);
    const first: ResultMeta[] = [];
    const second: ResultMeta[] = [];
    const off = await subs.add('a', (m) => first.push(m));
    await off();
    // Held: a message now reaches nobody.
    publish('a', encodeResultMeta(meta('x')));
    expect(first).toEqual([]);
    const before = calls.length;
    await subs.add('a', (m) => second.push(m));
    expect(calls.length).toBe(before);
    publish('a', encodeResultMeta(meta('y')));
    expect(first).toEqual([]);
    expect(second.map((m) => m.task_id)).toEqual(['y']);
    expect(subs.channels()).toEqual(['a']);
    subs.clear();
  });

  it('clear() drops held channels and their timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { connection, calls } = recordingConnection();
    const subs = new ResultSubscriptions(connection, () => undefined);
    const off = await subs.add('a', () => undefined);
    await off();
    subs.clear();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS * 2);
    // The connection is closed by its owner: no UNSUBSCRIBE is sent on it.
    expect(calls.filter((c) => c.op === 'unsubscribe')).toEqual([]);
  });
});
