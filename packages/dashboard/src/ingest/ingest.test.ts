import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp, type App } from 'celeriac';
import type { EventDict } from 'celeriac/monitor';
import { waitFor } from 'celeriac/testing';
import { EventFolder, type FoldedBatch } from '../store/fold-events.js';
import type { HistoryStore } from '../store/history-store.js';
import { Ingest } from './ingest.js';

/** A store whose writes wait until `release()`; it records every batch. */
function heldStore() {
  const batches: FoldedBatch[] = [];
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  const store = {
    newFolder: () => new EventFolder({ payloadCap: 1000, timelineCap: 100 }),
    writeFolded: async (batch: FoldedBatch) => {
      await gate;
      batches.push(batch);
      return { tasks: batch.tasks.length, workers: batch.workers.length, ignored: batch.ignored };
    },
    prune: async () => 0,
    markLost: async () => 0,
  } as unknown as HistoryStore;
  return { store, batches, release: () => open() };
}

/** A kombu envelope of a `task.multi` batch, as a Celery worker sends its task events. */
const envelope = (events: readonly EventDict[], tag: number): string =>
  JSON.stringify({
    body: Buffer.from(JSON.stringify(events), 'utf8').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { hostname: 'w@h' },
    properties: { delivery_mode: 1, delivery_info: { exchange: 'celeryev', routing_key: 'task.multi' }, priority: 0, body_encoding: 'base64', delivery_tag: `t${tag}` },
  });

const T0 = 1_795_000_000;
const lifecycle = (i: number): EventDict[] => [
  { type: 'task-received', uuid: `t${i}`, name: 'proj.add', args: `(${i}, 1)`, kwargs: '{}', hostname: 'w@h', timestamp: T0 + i, utcoffset: 0 } as EventDict,
  { type: 'task-started', uuid: `t${i}`, hostname: 'w@h', timestamp: T0 + i + 0.001, utcoffset: 0 } as EventDict,
  { type: 'task-succeeded', uuid: `t${i}`, result: String(i + 1), runtime: 0.001, hostname: 'w@h', timestamp: T0 + i + 0.002, utcoffset: 0 } as EventDict,
];

/** Makes `app`'s event subscriptions wait until `release()`; `asked` turns true at the first. */
function holdSubscriptions(app: App) {
  const broker = app.broker;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const state = { asked: false, release: () => release() };
  const subscribe = broker.subscribeFanout.bind(broker);
  broker.subscribeFanout = async (exchange, bindingKey, listener) => {
    state.asked = true;
    await held;
    return subscribe(exchange, bindingKey, listener);
  };
  return state;
}

const apps: App[] = [];
const ingests: Ingest[] = [];
afterEach(async () => {
  await Promise.all(ingests.splice(0).map((i) => i.close()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/**
 * An app on memory:// whose event subscription waits until released, and an Ingest of it on a
 * store that writes at once, its polls a minute apart and its enable_events loop off.
 */
function heldIngest() {
  const app = createApp({ broker: 'memory://' }, { env: {} });
  apps.push(app);
  const s = heldStore();
  s.release();
  const subscription = holdSubscriptions(app);
  const ingest = new Ingest(app, s.store, { enableEventsMs: 0, inspectIntervalMs: 60_000, queuePollMs: 60_000, pruneMs: 60_000 });
  ingests.push(ingest);
  return { broker: app.broker, subscription, ingest };
}

describe('Ingest closed while it starts', () => {
  it('a close() while it subscribes to events starts no loops: nothing pruned, polled or broadcast after the close', async () => {
    const app = createApp({ broker: 'memory://' }, { env: {} });
    apps.push(app);
    const s = heldStore();
    s.release();
    let prunes = 0;
    (s.store as { prune: () => Promise<number> }).prune = () => Promise.resolve(++prunes);
    const broker = app.broker;
    const subscription = holdSubscriptions(app);
    const ingest = new Ingest(app, s.store, { flushMs: 5, enableEventsMs: 5, inspectIntervalMs: 5, queuePollMs: 5, pruneMs: 5 });
    ingests.push(ingest);
    const starting = ingest.start();
    await waitFor(() => subscription.asked, 'the event subscription asked for');
    await ingest.close();
    let published = 0;
    const publish = broker.publishFanout.bind(broker);
    broker.publishFanout = (exchange, routingKey, raw) => {
      published++;
      return publish(exchange, routingKey, raw);
    };
    // A fake clock from here: any loop started after the close is on it, and twenty of its
    // periods pass at once.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      subscription.release();
      await starting;
      await vi.advanceTimersByTimeAsync(100);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
    expect({ prunes, published }).toEqual({ prunes: 0, published: 0 });
  });
});

describe('Ingest whose broker never answers', () => {
  // The dashboard listens once start() resolves: with the broker down it served nothing for
  // the subscription's 10 s, not even the page saying the broker is unreachable.
  it('start() gives up waiting for the event subscription after 2 s, and subscribes once the broker answers', async () => {
    const { broker, subscription, ingest } = heldIngest();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      let started = false;
      void ingest.start().then(() => (started = true));
      await vi.advanceTimersByTimeAsync(1999);
      expect(started).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(started).toBe(true);
      subscription.release();
      await vi.advanceTimersByTimeAsync(1000);
    } finally {
      vi.useRealTimers();
    }
    await broker.publishFanout('celeryev', 'task.multi', envelope(lifecycle(1), 1));
    await waitFor(() => ingest.eventsIngested === 3, 'the events, once subscribed');
  });

  // `celeriac flower` stopped with its broker down took 2-5 s more: its close waited for
  // remote control to unbind its reply queue, a binding the broker never answered.
  it('close() does not wait for a broker it knows fails', async () => {
    const { broker, ingest } = heldIngest();
    // Down for everything else it asks too: enabling events, queue lengths.
    broker.publishFanout = () => Promise.reject(new Error('the broker is down'));
    broker.queueLength = () => Promise.reject(new Error('the broker is down'));
    let binds = 0;
    broker.bindQueue = () => {
      binds++;
      return new Promise(() => undefined);
    };
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      const starting = ingest.start();
      await vi.advanceTimersByTimeAsync(2000);
      await starting;
      expect(ingest.brokerError).not.toBeNull();
      await vi.advanceTimersByTimeAsync(10);
      // The workers' inspection binds the reply queue, and waits.
      expect(binds).toBe(1);
      let closed = false;
      void ingest.close().then(() => (closed = true));
      await vi.advanceTimersByTimeAsync(300);
      expect(closed).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Ingest behind a slow store', () => {
  it('holds events undecoded while a write is slow instead of dropping timeline entries, then stores every one', async () => {
    const app = createApp({ broker: 'memory://' }, { env: {} });
    apps.push(app);
    const s = heldStore();
    // A write buffer of 1,000 entries behind a store that does not answer: 9,000 events
    // (3,000 tasks) would overflow it nine times over.
    const ingest = new Ingest(app, s.store, { batchSize: 100, maxBuffered: 1000, flushMs: 0, enableEventsMs: 0, inspectIntervalMs: 1e9, queuePollMs: 0, pruneMs: 0 });
    ingests.push(ingest);
    await ingest.start();
    const tasks = 3000;
    let tag = 0;
    for (let i = 0; i < tasks; i += 10) {
      const events = Array.from({ length: 10 }, (_, k) => lifecycle(i + k)).flat();
      await app.broker.publishFanout('celeryev', 'task.multi', envelope(events, tag++));
    }
    // Everything published has arrived: folded up to the write buffer's hold, the rest waiting.
    await waitFor(() => ingest.eventsIngested + ingest.eventMessagesPending * 30 >= tasks * 3 - 30 && ingest.eventMessagesPending > 0, 'events received and held');
    expect(ingest.buffered).toBeLessThanOrEqual(1000);
    expect(ingest.eventBytesPending).toBeGreaterThan(0);
    s.release();
    await waitFor(async () => {
      await ingest.flush();
      return ingest.eventsWritten === tasks * 3;
    }, 'every event written');
    expect(ingest.eventsDropped).toBe(0);
    expect(ingest.tasksDropped).toBe(0);
    expect(ingest.eventMessagesShed).toBe(0);
    expect(ingest.eventMessagesPending).toBe(0);
    const timeline = s.batches.reduce((n, b) => n + b.events.length, 0);
    expect(timeline).toBe(tasks * 3);
    const written = new Map<string, string | null>();
    for (const b of s.batches) for (const t of b.tasks) if (t.state === 'SUCCESS' || !written.has(t.uuid)) written.set(t.uuid, t.state);
    expect(written.size).toBe(tasks);
    expect([...written.values()].every((state) => state === 'SUCCESS')).toBe(true);
  });
});
