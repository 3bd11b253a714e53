import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { createApp } from '../create-app.js';
import type { Settings } from '../core/settings.js';
import type { PublishOptions } from '../core/spi/broker.js';
import type { Json, Message } from '../protocol/types.js';
import { FakeClock } from '../testing/fake-clock.js';
import { Beat, BEAT_HEADER } from './beat.js';
import { BeatEntries } from './dynamic-entries.js';
import type { BeatOptions } from './beat-options.js';
import { crontab } from './schedules.js';

interface Sent {
  task: string;
  entry: string;
  slot: string;
  at: number;
  queue: string;
  priority: number | undefined;
}

/** A memory broker that remembers what was published (refused publishes are not). */
class RecordingBroker extends MemoryBroker {
  readonly sent: Sent[] = [];
  constructor(private readonly clock: FakeClock) {
    super({ clock });
  }
  override async publish(message: Message, options: PublishOptions): Promise<void> {
    await super.publish(message, options);
    const beat = message.headers[BEAT_HEADER] as { entry: string; slot: string };
    this.sent.push({ task: String(message.headers['task']), entry: beat.entry, slot: beat.slot, at: this.clock.now(), queue: options.routingKey, priority: options.priority });
  }
}

const START = Date.parse('2026-01-01T00:00:00Z');

function setup(settings: Settings = {}, startMs = START) {
  const clock = new FakeClock(startMs);
  const broker = new RecordingBroker(clock);
  const app = createApp(
    { beatLeaseTtlSec: 6, ...settings },
    { broker, backend: new MemoryBackend({ clock }), clock, env: {}, logger: pino({ level: 'silent' }) },
  );
  const beat = (options: BeatOptions = {}) => new Beat(app, { holder: `b${Math.random().toString(36).slice(2, 6)}`, ...options });
  return { clock, broker, app, beat };
}

/** `n` turns of the event loop. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** Ticks every live beat each `stepMs` until `ms` passed (a loop without timers). */
async function run(clock: FakeClock, beats: readonly Beat[], ms: number, stepMs = 1000): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    for (const b of beats) await b.tick();
    clock.advance(stepMs);
  }
}

const every10 = { tick: { task: 'tasks.tick', schedule: 10, args: [1], options: { queue: 'periodic', priority: 3 } } };

describe('Beat on the memory broker with a fake clock', () => {
  it('sends an ordinary task message per slot, on the grid, with entry options', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: every10 });
    const b = beat();
    await run(clock, [b], 35_000);
    expect(broker.sent.map((s) => s.slot)).toEqual(['2026-01-01T00:00:10+00:00', '2026-01-01T00:00:20+00:00', '2026-01-01T00:00:30+00:00']);
    expect(broker.sent[0]).toMatchObject({ task: 'tasks.tick', queue: 'periodic', priority: 3, at: START + 10_000 });
    expect(await broker.queueLength('periodic')).toBe(3);
    const state = (await broker.beatStore().states()).get('tick');
    expect(state).toEqual({ lastRunAt: START + 30_000, totalRunCount: 3 });
  });

  it('fires beatInit on start and the publish signals around each message it sends', async () => {
    const { clock, app, beat } = setup({ beatSchedule: every10 });
    const seen: string[] = [];
    app.on('beatInit', (p) => void seen.push(`init:${p.hostname}`));
    app.on('beforeTaskPublish', (p) => void seen.push(`before:${p.name}:${p.routingKey}`));
    app.on('afterTaskPublish', (p) => void seen.push(`after:${p.name}`));
    const b = new Beat(app, { holder: 'sig-holder' });
    await b.start();
    expect(seen).toEqual(['init:sig-holder']);
    await b.close();
    await run(clock, [beat()], 15_000);
    expect(seen).toEqual(['init:sig-holder', 'before:tasks.tick:periodic', 'after:tasks.tick']);
  });

  it('two beats: exactly one sends; when the leader dies the other takes over within one lease, no duplicates', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: { fast: { task: 'tasks.fast', schedule: 2 } } });
    const a = beat();
    const b = beat();
    await run(clock, [a, b], 20_000);
    expect([a.isLeader, b.isLeader].filter(Boolean)).toHaveLength(1);
    const leader = a.isLeader ? a : b;
    const follower = leader === a ? b : a;
    // The leader dies without releasing its lease (kill -9): only the follower ticks on.
    const diedAt = clock.now();
    await run(clock, [follower], 30_000);
    expect(follower.isLeader).toBe(true);
    const slots = broker.sent.map((s) => s.slot);
    expect(new Set(slots).size).toBe(slots.length);
    const times = broker.sent.map((s) => s.at);
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // Lease 6 s + one 2 s interval + one 1 s tick step.
    expect(Math.max(...gaps)).toBeLessThanOrEqual(6_000 + 2_000 + 1_000);
    expect(times.some((t) => t > diedAt + 6_000 && t <= diedAt + 6_000 + 2_000 + 1_000)).toBe(true);
  });

  it('fencing: a leader paused between its lease check and its publish cannot send after a takeover', async () => {
    const settings = { beatLeaseTtlSec: 6, beatSchedule: { fast: { task: 'tasks.fast', schedule: 1 } } };
    const { clock, broker, beat } = setup(settings);
    // A reads time from its own clock: while "paused" it does not see time pass, as a process
    // stopped between reading the clock and publishing. The lease expires by the broker's clock.
    const clockA = new FakeClock(START);
    const appA = createApp(settings, { broker, backend: new MemoryBackend({ clock: clockA }), clock: clockA, env: {}, logger: pino({ level: 'silent' }) });
    const a = new Beat(appA, { holder: 'a' });
    for (let i = 0; i < 5; i++) {
      clockA.set(clock.now());
      await a.tick();
      clock.advance(1_000);
    }
    expect(broker.sent.map((s) => s.slot.slice(17, 19))).toEqual(['01', '02', '03', '04']);
    // A pauses at 4 s; by 13 s its lease (renewed at 4 s, 6 s long) has expired and B leads.
    clock.advance(8_000);
    const b = beat();
    await b.tick();
    expect(b.isLeader).toBe(true);
    const before = broker.sent.length;
    // A wakes believing it still leads (by its clock the lease runs to 10 s, renewal due at 6 s)
    // with the 5 s run due: only the fence stops that send.
    clockA.set(START + 5_500);
    expect(a.isLeader).toBe(true);
    await a.tick();
    expect(broker.sent.length).toBe(before);
    expect(a.isLeader).toBe(false);
  });

  it('a restart in the middle of a schedule neither re-sends nor skips', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: every10 });
    const first = beat();
    await run(clock, [first], 25_000); // sent 10 s and 20 s
    await first.close();
    clock.advance(3_000); // restarting takes 3 s
    const second = beat();
    await run(clock, [second], 20_000);
    expect(broker.sent.map((s) => s.slot.slice(11, 19))).toEqual(['00:00:10', '00:00:20', '00:00:30', '00:00:40']);
    expect((await broker.beatStore().states()).get('tick')?.totalRunCount).toBe(4);
  });

  it('a standby beat says once that it stands by (and why), not at every check', async () => {
    const clock = new FakeClock(START);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) });
    const app = createApp({ beatLeaseTtlSec: 6, beatSchedule: every10 }, { broker: new RecordingBroker(clock), backend: new MemoryBackend({ clock }), clock, env: {}, logger });
    const a = new Beat(app, { holder: 'a' });
    const b = new Beat(app, { holder: 'b' });
    await run(clock, [a, b], 20_000);
    const standby = lines.filter((l) => l.startsWith('beat: standing by'));
    expect(standby).toEqual(['beat: standing by: another beat holds the lease and sends; this one takes over within 6 s if that one stops']);
    expect(lines.filter((l) => l.includes('leads now'))).toHaveLength(1);
    await a.close();
    await run(clock, [b], 2_000);
    expect(b.isLeader).toBe(true);
    const again = new Beat(app, { holder: 'a2' });
    await run(clock, [b, again], 5_000);
    expect(lines.filter((l) => l.startsWith('beat: standing by'))).toHaveLength(2);
    await b.close();
  });

  it('misfire policy: run-once catches up with one run; skip skips it (logged) and keeps the schedule', async () => {
    const { clock, broker, beat } = setup({
      beatMisfireGraceSec: 5,
      beatSchedule: {
        once: { task: 't.once', schedule: 10 },
        skip: { task: 't.skip', schedule: 10, misfire: 'skip' },
      },
    });
    const first = beat();
    await run(clock, [first], 15_000); // both sent at 10 s
    await first.close();
    clock.advance(62_000); // down until 77 s: slots 20..70 missed, 70 is 7 s late
    const second = beat();
    await run(clock, [second], 3_000); // ticks at 77, 78, 79 s
    const bySlot = (e: string) => broker.sent.filter((s) => s.entry === e).map((s) => s.slot.slice(11, 19));
    expect(bySlot('once')).toEqual(['00:00:10', '00:01:10']);
    expect(bySlot('skip')).toEqual(['00:00:10']);
    await run(clock, [second], 3_000); // ticks at 80, 81, 82 s: the 80 s slot is on time for both
    expect(bySlot('once')).toEqual(['00:00:10', '00:01:10', '00:01:20']);
    expect(bySlot('skip')).toEqual(['00:00:10', '00:01:20']);
  });

  it('dynamic entries: add, change, pause, resume and remove are picked up without a restart', async () => {
    const { clock, broker, app, beat } = setup({ beatSchedule: every10 });
    const b = beat();
    const entries = new BeatEntries(app);
    await run(clock, [b], 3_000);
    await entries.set('dyn', { task: 'tasks.dyn', schedule: 4 });
    await run(clock, [b], 10_000); // 3..12 s: dyn first seen at 3 s, sent at 7 and 11
    const dyn = () => broker.sent.filter((s) => s.entry === 'dyn').map((s) => s.at - START);
    expect(dyn()).toEqual([7_000, 11_000]);
    await entries.set('dyn', { task: 'tasks.dyn2', schedule: 1 });
    await run(clock, [b], 3_000); // 13..15 s
    expect(broker.sent.filter((s) => s.task === 'tasks.dyn2').length).toBeGreaterThanOrEqual(2);
    await entries.pause('dyn');
    await entries.pause('tick');
    const paused = broker.sent.length;
    await run(clock, [b], 10_000);
    expect(broker.sent.length).toBe(paused);
    await entries.resume('tick');
    await run(clock, [b], 2_000);
    expect(broker.sent.filter((s) => s.entry === 'tick').length).toBeGreaterThan(0);
    expect(await entries.remove('dyn')).toBe(true);
    const removed = broker.sent.filter((s) => s.entry === 'dyn').length;
    await run(clock, [b], 10_000);
    expect(broker.sent.filter((s) => s.entry === 'dyn').length).toBe(removed);
    const listed = await entries.list();
    expect(listed.map((e) => [e.name, e.source, e.paused])).toEqual([['tick', 'settings', false]]);
    await expect(entries.set('bad', { task: 't', schedule: '61 * * * *' })).rejects.toThrow(/Beat entry "bad".*minute/);
  });

  it('a crontab in Europe/Berlin runs once a day across the spring-forward day', async () => {
    const { clock, broker, beat } = setup(
      { timezone: 'Europe/Berlin', beatSchedule: { nightly: { task: 't.nightly', schedule: crontab('30 2 * * *') } } },
      Date.parse('2026-03-27T12:00:00Z'),
    );
    const b = beat();
    await run(clock, [b], 3 * 86_400_000, 60_000);
    expect(broker.sent.map((s) => s.slot)).toEqual([
      '2026-03-28T01:30:00+00:00', // 02:30 CET
      '2026-03-29T01:30:00+00:00', // 03:30 CEST: 02:30 does not exist that day
      '2026-03-30T00:30:00+00:00', // 02:30 CEST
    ]);
  });

  it('runs on its own timers once started, and close() releases the lease for another beat', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: every10 });
    const a = beat();
    await a.start();
    const flush = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    clock.advance(0);
    await flush();
    for (let i = 0; i < 25; i++) {
      await flush();
      clock.advance(1_000);
    }
    await flush();
    expect(broker.sent.map((s) => s.slot.slice(11, 19))).toEqual(['00:00:10', '00:00:20']);
    await a.close();
    expect(a.state).toBe('closed');
    const b = beat();
    await b.tick();
    expect(b.isLeader).toBe(true);
  });

  it('close() leaves a tick still taking the lease (the broker down), which then gives the lease back and sends nothing', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: { fast: { task: 'tasks.fast', schedule: 1 } } });
    const store = broker.beatStore();
    let arrive = (): void => undefined;
    let acquiring = 0;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    // Every lease attempt waits for the test, as one waits for a broker that is down.
    const acquire = store.acquire.bind(store);
    store.acquire = async (holder, ttlMs) => {
      acquiring++;
      await arrived;
      return acquire(holder, ttlMs);
    };
    const a = beat();
    await a.start();
    // The first tick, which waits in acquire.
    clock.advance(0);
    await turns(5);
    expect(acquiring).toBe(1);
    // It waited its whole deadline (5 s by default) for a tick that had nothing to finish.
    const closed = a.close({ deadlineMs: 60_000 }).then(() => true);
    expect(await Promise.race([closed, turns(20).then(() => false)])).toBe(true);
    arrive();
    await turns(20);
    expect(broker.sent).toEqual([]);
    expect(a.isLeader).toBe(false);
    const b = beat();
    await b.tick();
    expect(b.isLeader).toBe(true);
  });

  it('close() waits for a tick that is sending, at most deadlineMs', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: { fast: { task: 'tasks.fast', schedule: 1 } } });
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const publish = broker.publish.bind(broker);
    broker.publish = async (message, options) => {
      await gate;
      return publish(message, options);
    };
    const a = beat();
    await a.tick();
    clock.advance(1_000);
    const ticking = a.tick();
    await turns(5);
    let closed = false;
    const closing = a.close({ deadlineMs: 60_000 }).then(() => (closed = true));
    await turns(20);
    expect(closed).toBe(false);
    open();
    await Promise.all([ticking, closing]);
    expect(broker.sent.map((s) => s.entry)).toEqual(['fast']);
  });

  it('close() waits for nothing while the broker is known to be down: the lease expires by itself', async () => {
    const { clock, broker, beat } = setup({ beatSchedule: { fast: { task: 'tasks.fast', schedule: 1 } } });
    const publish = broker.publish.bind(broker);
    let hang = false;
    broker.publish = async (message, options) => {
      if (hang) await new Promise(() => undefined);
      return publish(message, options);
    };
    const store = broker.beatStore();
    const release = store.release.bind(store);
    store.release = async (token) => {
      if (hang) await new Promise(() => undefined);
      return release(token);
    };
    const a = beat();
    await a.tick();
    expect(a.isLeader).toBe(true);
    // The broker goes down: the next send and the release hang, as they wait for it.
    hang = true;
    Object.assign(broker, { offline: () => true });
    clock.advance(1_000);
    void a.tick();
    await turns(5);
    await a.close({ deadlineMs: 60_000 });
    expect(a.state).toBe('closed');
  });

  it('refuses a dynamic entry with an unknown key, arguments that are not JSON or an interval under a millisecond; nothing is stored', async () => {
    const { app } = setup({ beatSchedule: {} });
    const entries = new BeatEntries(app);
    let deep: Json = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    // Before: stored and ignored; a RangeError (stack overflow); a TypeError; stored, then sent on every turn of the loop.
    await expect(entries.set('e', { task: 't', schedule: 10, kwarg: { x: 1 } } as never)).rejects.toThrow('Beat entry "e": unknown key "kwarg"; known: task, schedule, args, kwargs, options, timezone, misfire, misfireGraceSec');
    await expect(entries.set('e', { task: 't', schedule: 10, args: [deep] })).rejects.toThrow(/Beat entry "e": args and kwargs must be JSON: .*nested deeper than 1000 levels/);
    await expect(entries.set('e', { task: 't', schedule: 10, kwargs: { c: cyclic } as never })).rejects.toThrow(/Beat entry "e": args and kwargs must be JSON: .*cyclic/);
    await expect(entries.set('e', { task: 't', schedule: 1e-9 })).rejects.toThrow(/Beat entry "e": An interval must be a number of seconds >= 0.001/);
    await expect(entries.set('e', { task: 't', schedule: 10, relative: true } as never)).rejects.toThrow(/relative: true .* has no Celeriac equivalent/);
    expect(await entries.list()).toEqual([]);
    // Celery's default, relative: false, is what beat does.
    await entries.set('e', { task: 't', schedule: 10, relative: false } as never);
    expect((await entries.list()).map((e) => e.name)).toEqual(['e']);
  });

  it('rejects bad static entries when constructed', () => {
    const { beat } = setup({ beatSchedule: { bad: { task: 't', schedule: { kind: 'solar', event: 'noon', latitude: 0, longitude: 0 } as never } } });
    expect(() => beat()).toThrow(/Beat entry "bad": Unknown solar event/);
  });
});
