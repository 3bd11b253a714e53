import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import type { ResultBackend } from '../core/spi/backend.js';
import type { Broker, Delivery, LostDelivery } from '../core/spi/broker.js';
import type { RunningTask, RunningTaskStore } from '../core/spi/running-tasks.js';
import { waitFor } from '../testing/wait-for.js';
import { LostTaskWatch, lostTaskWatchFor, roundIntervalMs } from './lost-task-watch.js';

/** A store in memory; `silent` holders are the ones takeLostRunning treats as gone. */
class FakeStore implements RunningTaskStore {
  readonly records = new Map<string, { holder: string; task: RunningTask }>();
  readonly renewed: string[] = [];
  silent = new Set<string>();
  async recordRunning(holder: string, task: RunningTask): Promise<void> {
    this.records.set(`${holder} ${task.tag}`, { holder, task });
  }
  async forgetRunning(holder: string, tag: string): Promise<void> {
    this.records.delete(`${holder} ${tag}`);
  }
  async renewPresence(holder: string): Promise<void> {
    this.renewed.push(holder);
  }
  async takeLostRunning(): Promise<LostDelivery[]> {
    const lost = [...this.records].filter(([, r]) => this.silent.has(r.holder));
    for (const [key] of lost) this.records.delete(key);
    return lost.map(([, r]) => ({ ...r.task, holder: r.holder }));
  }
}

function logCapture() {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { log, lines };
}

const delivery = (tag: string) => ({ tag, queue: 'q', raw: '{"body":"x"}' }) as unknown as Delivery;
const broker = (reportsLostTasks: boolean) => ({ kind: 'amqp', capabilities: { priorityOrder: 'highest-first', reportsLostTasks } }) as unknown as Broker;
const withStore = (store: RunningTaskStore) => Object.assign(Object.create(null) as object, { kind: 'redis' }, {
  recordRunning: store.recordRunning.bind(store), forgetRunning: store.forgetRunning.bind(store),
  renewPresence: store.renewPresence.bind(store), takeLostRunning: store.takeLostRunning.bind(store),
}) as unknown as ResultBackend;

describe('lostTaskWatchFor', () => {
  it('says at start that lost tasks go unreported when the backend keeps no records (rpc://)', () => {
    const { log, lines } = logCapture();
    const rpcLike = Object.assign(new MemoryBackend(), { kind: 'rpc' });
    expect(lostTaskWatchFor(broker(false), rpcLike, { hostname: 'w@h', graceMs: 1000, log, report: async () => undefined, earlyAcks: true })).toBeUndefined();
    expect(lines.join('')).toMatch(/lost tasks are not reported: the amqp broker keeps no record of running tasks and the rpc result backend cannot keep them/);
  });

  it('warns of nothing and makes no watch when no task acks early (the app runs late acks)', () => {
    const { log, lines } = logCapture();
    const rpcLike = Object.assign(new MemoryBackend(), { kind: 'rpc' });
    expect(lostTaskWatchFor(broker(false), rpcLike, { hostname: 'w@h', graceMs: 1000, log, report: async () => undefined, earlyAcks: false })).toBeUndefined();
    expect(lostTaskWatchFor(broker(false), withStore(new FakeStore()), { hostname: 'w@h', graceMs: 1000, log, report: async () => undefined, earlyAcks: false })).toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('makes none when the broker reports lost tasks itself, or the grace is 0', () => {
    const { log, lines } = logCapture();
    const backend = withStore(new FakeStore());
    expect(lostTaskWatchFor(broker(true), backend, { hostname: 'w@h', graceMs: 1000, log, report: async () => undefined, earlyAcks: true })).toBeUndefined();
    expect(lostTaskWatchFor(broker(false), backend, { hostname: 'w@h', graceMs: 0, log, report: async () => undefined, earlyAcks: true })).toBeUndefined();
    expect(lostTaskWatchFor(broker(false), backend, { hostname: 'w@h', graceMs: 1000, log, report: async () => undefined, earlyAcks: true })).toBeInstanceOf(LostTaskWatch);
    expect(lines).toEqual([]);
  });
});

describe('LostTaskWatch', () => {
  it('records a running task until its end, renews its presence, and reports the tasks of silent holders', async () => {
    const store = new FakeStore();
    const reported: LostDelivery[] = [];
    const watch = new LostTaskWatch({ store, hostname: 'w@h', graceMs: 40, log: pino({ level: 'silent' }), report: async (l) => void reported.push(...l) });
    watch.start();
    await waitFor(() => store.renewed.length >= 2, 'two presence renewals', 5000);
    // Two deliveries with the same tag (a new AMQP channel numbers from 1 again) keep two records.
    const endA = watch.record(delivery('1'));
    watch.record(delivery('1'));
    await waitFor(() => store.records.size === 2, 'two records', 5000);
    endA();
    await waitFor(() => store.records.size === 1, 'the ended one removed', 5000);
    await store.recordRunning('dead@h', { tag: '7', queue: 'q', raw: 'r' });
    store.silent.add('dead@h');
    await waitFor(() => reported.length === 1, 'the dead holder\'s task reported', 5000);
    expect(reported[0]).toMatchObject({ holder: 'dead@h', tag: '7', queue: 'q' });
    await watch.close();
    expect(watch.state).toBe('closed');
    expect(store.records.size).toBe(1);
  });

  it("records nothing, with a warning, for a delivery whose envelope cannot be written (RabbitMQ's, headers past the depth limit), and never throws", async () => {
    const store = new FakeStore();
    const { log, lines } = logCapture();
    const watch = new LostTaskWatch({ store, hostname: 'w@h', graceMs: 60_000, log, report: async () => undefined });
    const deep = Object.defineProperty({ tag: '9', queue: 'q' }, 'raw', {
      get() {
        throw new Error('Cannot serialize a value nested deeper than 1000 levels');
      },
    }) as unknown as Delivery;
    const end = watch.record(deep);
    expect(() => end()).not.toThrow();
    expect(store.records.size).toBe(0);
    expect(lines.join('')).toContain('its envelope cannot be written as JSON');
    await watch.close();
  });

  it('renews four times within the grace, at most every 5 s', () => {
    expect(roundIntervalMs(2000)).toBe(500);
    expect(roundIntervalMs(300_000)).toBe(5000);
  });
});
