/**
 * ResultSubscriptions' lazy UNSUBSCRIBE, against a recording stand-in for the subscriber
 * connection (a pure unit: the order and the event-loop turn of each pub/sub command are what
 * is checked; test/redis/backend/redis-backend.test.ts runs the same on a real Redis).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LazyRedisClient } from '../../redis/lazy-client.js';
import type { ResultMeta } from '../../protocol/types.js';
import { encodeResultMeta } from '../../protocol/result.js';
import { SocketClosedUnexpectedlyError } from 'redis';
import { ErrorCodes } from '../../errors.js';
import { ResultSubscriptions, UNSUBSCRIBE_HELD_MAX, UNSUBSCRIBE_LINGER_MS, UNSUBSCRIBE_RETRY_MS } from './result-subscriptions.js';

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

describe('ResultSubscriptions: a SUBSCRIBE lost with its connection', () => {
  /** A connection whose next SUBSCRIBEs fail with `errors`, in order, then succeed. */
  function failingConnection(errors: Error[]) {
    let subscribes = 0;
    const client = {
      subscribe: () => {
        subscribes++;
        const err = errors.shift();
        return err === undefined ? Promise.resolve() : Promise.reject(err);
      },
      unsubscribe: () => Promise.resolve(),
    };
    return { connection: { connect: () => Promise.resolve(client) } as unknown as LazyRedisClient, subscribes: () => subscribes };
  }
  const named = (name: string, message: string) => Object.assign(new Error(message), { name });

  it('is sent once more when the connection dropped under it, and the wait goes on', async () => {
    const { connection, subscribes } = failingConnection([named('SocketClosedUnexpectedlyError', 'Socket closed unexpectedly')]);
    const subs = new ResultSubscriptions(connection, () => undefined);
    await expect(subs.add('a', () => undefined)).resolves.toBeTypeOf('function');
    expect(subscribes()).toBe(2);
    expect(subs.channels()).toEqual(['a']);
    subs.clear();
  });

  it('is not sent again after a second loss, nor after a refusal: the wait fails with TRANSPORT and keeps nothing', async () => {
    const lost = failingConnection([named('SocketClosedUnexpectedlyError', 'Socket closed unexpectedly'), named('SocketClosedUnexpectedlyError', 'Socket closed unexpectedly')]);
    const twice = new ResultSubscriptions(lost.connection, () => undefined);
    await expect(twice.add('a', () => undefined)).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect(lost.subscribes()).toBe(2);
    expect(twice.channels()).toEqual([]);
    const refused = failingConnection([Object.assign(new Error('NOPERM this user has no permissions to access one of the channels'), { name: 'ErrorReply' })]);
    const once = new ResultSubscriptions(refused.connection, () => undefined);
    await expect(once.add('a', () => undefined)).rejects.toMatchObject({ code: expect.any(String) });
    expect(refused.subscribes()).toBe(1);
    expect(once.channels()).toEqual([]);
  });
});

describe('ResultSubscriptions: an UNSUBSCRIBE lost with its connection', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A connection whose UNSUBSCRIBEs fail with `errors`, in order, then succeed. */
  function connectionLosing(errors: Error[]) {
    const unsubscribes: string[] = [];
    const client = {
      subscribe: () => Promise.resolve(),
      unsubscribe: (channel: string) => {
        unsubscribes.push(channel);
        const err = errors.shift();
        return err === undefined ? Promise.resolve() : Promise.reject(err);
      },
    };
    return { connection: { connect: () => Promise.resolve(client) } as unknown as LazyRedisClient, unsubscribes };
  }
  const lost = () => new SocketClosedUnexpectedlyError();

  it('is held again and sent once a second later, not in a loop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { connection, unsubscribes } = connectionLosing([lost()]);
    const subs = new ResultSubscriptions(connection, () => undefined);
    await (await subs.add('a', () => undefined))();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS);
    expect(unsubscribes).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_RETRY_MS - 1);
    expect(unsubscribes).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(unsubscribes).toEqual(['a', 'a']);
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_RETRY_MS * 5);
    expect(unsubscribes).toEqual(['a', 'a']);
    subs.clear();
  });

  it('goes with the next SUBSCRIBE if one comes first', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { connection, unsubscribes } = connectionLosing([lost()]);
    const subs = new ResultSubscriptions(connection, () => undefined);
    await (await subs.add('a', () => undefined))();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS);
    await subs.add('b', () => undefined);
    expect(unsubscribes).toEqual(['a', 'a']);
    subs.clear();
  });

  it('is dropped when the failure is not the connection, or after clear()', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const refused = connectionLosing([Object.assign(new Error('NOPERM no permissions'), { name: 'ErrorReply' })]);
    const a = new ResultSubscriptions(refused.connection, () => undefined);
    await (await a.add('a', () => undefined))();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS + UNSUBSCRIBE_RETRY_MS * 2);
    expect(refused.unsubscribes).toEqual(['a']);

    const closing = connectionLosing([lost()]);
    const b = new ResultSubscriptions(closing.connection, () => undefined);
    await (await b.add('a', () => undefined))();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_LINGER_MS - 1);
    b.clear();
    await vi.advanceTimersByTimeAsync(UNSUBSCRIBE_RETRY_MS * 2);
    expect(closing.unsubscribes).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
