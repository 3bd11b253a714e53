import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../protocol/envelope.js';
import { decodeTaskMessage } from '../protocol/task-message.js';
import { createTestApp } from '../testing/test-app.js';
import { ErrorCodes } from '../errors.js';
import type { Delivery } from './spi/broker.js';

/** Takes n messages from a queue (acking them) and returns [task id, args] of each, in order. */
async function takeAll(t: ReturnType<typeof createTestApp>, queue: string, n: number): Promise<[string, unknown][]> {
  const got: [string, unknown][] = [];
  await new Promise<void>((resolve) => {
    const consumer = t.broker.consume({
      queues: [queue],
      prefetch: 0,
      onDelivery: (d: Delivery) => {
        const m = decodeTaskMessage(decodeEnvelope(d.raw).message);
        got.push([m.headers.id, m.args]);
        void d.ack();
        if (got.length === n) void consumer.close().then(resolve);
      },
    });
  });
  return got;
}

describe('bulk sends', () => {
  it('app.sendTasks publishes every call in order and returns their results in the same order', async () => {
    const t = createTestApp();
    const results = await t.app.sendTasks([
      { name: 'proj.a', args: [1] },
      { name: 'proj.b', args: [2], kwargs: { k: 1 }, options: { queue: 'other' } },
      { name: 'proj.a', args: [3] },
    ]);
    expect(results).toHaveLength(3);
    expect(await takeAll(t, 'celery', 2)).toEqual([[results[0]!.id, [1]], [results[2]!.id, [3]]]);
    expect(await takeAll(t, 'other', 1)).toEqual([[results[1]!.id, [2]]]);
  });

  it('task.applyAsyncMany sends one task per argument list with shared options; a bad call sends none', async () => {
    const t = createTestApp();
    const add = t.app.task('proj.add', (x: number, y: number) => x + y);
    const results = await add.applyAsyncMany([[1, 2], [3, 4]], { queue: 'math' });
    expect(new Set(results.map((r) => r.id)).size).toBe(2);
    expect(await takeAll(t, 'math', 2)).toEqual([[results[0]!.id, [1, 2]], [results[1]!.id, [3, 4]]]);
    await expect(add.applyAsyncMany([[1, 2]], { taskId: 'same' })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    await expect(t.app.sendTasks([{ name: 'proj.add', args: [1, 2] }, { name: 'proj.add', args: [1, 2], options: { priority: 42 } }])).rejects.toMatchObject({
      code: ErrorCodes.INVALID_ARGUMENT,
    });
    expect(await t.broker.queueLength('celery')).toBe(0);
  });

  it('refuses calls that are not an array of objects, with what was wrong; nothing is sent', async () => {
    const t = createTestApp();
    // Each failed with a TypeError from inside the send (calls.map, c.name).
    await expect(t.app.sendTasks(undefined as never)).rejects.toThrow('sendTasks(): calls must be an array of { name, args, kwargs, options }, got undefined');
    await expect(t.app.sendTasks('abc' as never)).rejects.toThrow('sendTasks(): calls must be an array of { name, args, kwargs, options }, got string');
    await expect(t.app.sendTasks([{ name: 'proj.a' }, null] as never)).rejects.toThrow('sendTasks(): calls[1] must be an object naming a task ({ name, args, kwargs, options }), got null');
    await expect(t.app.sendTasks([5] as never)).rejects.toThrow('sendTasks(): calls[0] must be an object naming a task');
    expect(await t.broker.queueLength('celery')).toBe(0);
    // A signature's args too (a TypeError, "args is not iterable").
    const add = t.app.task('proj.add', (x: number, y: number) => x + y);
    await expect(add.s(1).applyAsync(5 as never)).rejects.toThrow('call of proj.add: args must be an array, got number');
  });

  it('a group result needs a group id and results (a number and a string were taken)', () => {
    const t = createTestApp();
    expect(() => t.app.groupResult(5 as never, [])).toThrow('groupResult(): a group id must be a non-empty string, got 5');
    expect(() => t.app.groupResult('g', 'x' as never)).toThrow('groupResult(g): results must be an array of AsyncResult');
    expect(() => t.app.groupResult('g', ['id-1'] as never)).toThrow('results must be an array of AsyncResult');
    expect(t.app.groupResult('g', [t.app.asyncResult('a')]).results.map((r) => r.id)).toEqual(['a']);
  });

  it('runs each call in the caller in eager mode', async () => {
    const t = createTestApp({ taskAlwaysEager: true });
    const add = t.app.task('proj.add', (x: number, y: number) => x + y);
    const results = await add.applyAsyncMany([[1, 2], [5, 5]]);
    expect(await Promise.all(results.map((r) => r.get()))).toEqual([3, 10]);
  });
});
