/**
 * ctx.sendEvent (Celery's Task.send_event): a running task's custom event reaches an event
 * receiver with the task's uuid and the worker's hostname, whether task events are on or
 * not; a ClusterState shows the subject as a state; bad types and reserved fields are
 * refused; eager mode sends nothing.
 */
import { describe, expect, it } from 'vitest';
import { createApp, Worker } from '../index.js';
import { MemoryBackend, MemoryBroker } from '../exports/memory.js';
import { ClusterState, EventReceiver } from '../exports/monitor.js';
import { CeleriacError } from '../errors.js';
import { waitFor } from '../testing/wait-for.js';

function quietApp(settings: Parameters<typeof createApp>[0] = {}) {
  return createApp({ logLevel: 'silent', ...settings }, { env: {}, broker: new MemoryBroker(), backend: new MemoryBackend() });
}

describe('ctx.sendEvent', () => {
  it('publishes task-<subject> with the task uuid and worker hostname, task events off', async () => {
    const app = quietApp();
    const steps = app.task('t.steps', { bind: true }, async (ctx, n: number) => {
      for (let i = 1; i <= n; i += 1) await ctx.sendEvent('task-progress', { current: i, total: n });
      return n;
    });
    const state = new ClusterState();
    const seen: Record<string, unknown>[] = [];
    const receiver = new EventReceiver(app.broker, (event, at) => {
      if (event.type === 'task-progress') seen.push(event);
      state.apply(event, at);
    }, { wakeup: false });
    await receiver.start();
    const worker = new Worker(app, { concurrency: 1, hostname: 'ev@host' });
    await worker.start();
    try {
      const r = await steps.delay(3);
      expect(await r.get({ timeoutMs: 5000 })).toBe(3);
      await waitFor(() => seen.length >= 3, () => `three progress events (got ${seen.length})`);
      expect(seen.map((e) => [e['uuid'], e['hostname'], e['current'], e['total']])).toEqual([1, 2, 3].map((i) => [r.id, 'ev@host', i, 3]));
      expect(typeof seen[0]?.['timestamp']).toBe('number');
      expect(state.task(r.id)?.state).toBe('PROGRESS');
    } finally {
      await worker.close();
      await receiver.close();
      await app.close();
    }
  });

  it('refuses a type that is not task-<subject> and fields the event sets itself', async () => {
    const app = quietApp();
    const bad = app.task('t.bad', { bind: true }, async (ctx, which: string) => {
      if (which === 'type') await ctx.sendEvent('progress', {});
      else await ctx.sendEvent('task-progress', { uuid: 'forged', hostname: 'x' });
      return 'sent';
    });
    const worker = new Worker(app, { concurrency: 1 });
    await worker.start();
    try {
      await expect((await bad.delay('type')).get({ timeoutMs: 5000 })).rejects.toThrow(/must look like 'task-progress'/);
      await expect((await bad.delay('fields')).get({ timeoutMs: 5000 })).rejects.toThrow(/uuid, hostname are set by the event itself/);
    } finally {
      await worker.close();
      await app.close();
    }
  });

  it('in eager mode checks the event and sends nothing', async () => {
    const app = quietApp({ taskAlwaysEager: true, taskEagerPropagates: true });
    const published: string[] = [];
    const spy = app.broker.publishFanout.bind(app.broker);
    app.broker.publishFanout = async (exchange, key, raw) => {
      published.push(key);
      await spy(exchange, key, raw);
    };
    const t = app.task('t.eager', { bind: true }, async (ctx, type: string) => {
      await ctx.sendEvent(type, { current: 1 });
      return 'ok';
    });
    expect(await (await t.delay('task-progress')).get()).toBe('ok');
    expect(published).toEqual([]);
    await expect(t.delay('nope')).rejects.toBeInstanceOf(CeleriacError);
    await app.close();
  });
});
