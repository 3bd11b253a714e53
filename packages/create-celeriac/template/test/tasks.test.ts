/**
 * The tasks' tests: a real worker in this process on the memory:// broker, so each test sends a
 * task as production code does and reads its result.
 */
import { Worker } from 'celeriac';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { add, app, slug, slugify } from '../src/app.js';

let worker: Worker;

beforeAll(async () => {
  worker = new Worker(app, { concurrency: 2 });
  await worker.start();
});

afterAll(async () => {
  await worker.close();
  await app.close();
});

describe('tasks', () => {
  it('add runs on the worker and its result comes back', async () => {
    const result = await add.delay(2, 3);
    expect(await result.get({ timeoutMs: 5_000 })).toBe(5);
  });

  it('slugify makes a URL slug', async () => {
    expect(slug('Hello, Celeriac!')).toBe('hello-celeriac');
    const result = await slugify.delay('  Tasks & Queues  ');
    expect(await result.get({ timeoutMs: 5_000 })).toBe('tasks-queues');
  });

  it('a failing task fails its result', async () => {
    const result = await app.sendTask('tasks.add', [1]);
    await expect(result.get({ timeoutMs: 5_000 })).rejects.toThrow();
  });
});
