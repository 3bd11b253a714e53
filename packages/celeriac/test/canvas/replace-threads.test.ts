/**
 * `ctx.replace` inside a threads-pool thread (memory broker and backend): the replacement
 * is published through the worker, the thread's `Ignore` crosses back as an `Ignore`, and a
 * group replacement's chord size reaches the worker's backend, so the caller's `get()`
 * gets the replacement's result either way.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineTasks } from '../worker/fixtures/pool-app.js';
import { closeEnvs, makeEnv } from '../worker/helpers.js';
import { fixtureModule } from '../support/node-script.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

afterEach(closeEnvs);

const appModule = fixtureModule(new URL('../worker/fixtures/pool-app.ts', import.meta.url));
const T = { timeoutMs: 15_000 };

describe('ctx.replace in the threads pool', () => {
  it('a chain or a group replaces a task running in a thread; the caller gets its result', async () => {
    const env = makeEnv();
    const tasks = defineTasks(env.app);
    await env.startWorker({ pool: 'threads', appModule, concurrency: 2 });
    const stored: string[] = [];
    const store = env.backend.store.bind(env.backend);
    env.backend.store = (meta, options) => {
      stored.push(`${meta.task_id}:${meta.status}`);
      return store(meta, options);
    };
    const viaChain = await tasks.replaceChain.delay(1);
    expect(await viaChain.get(T)).toBe(12);
    // Ignore crossed the thread boundary: nothing stored for the replaced run itself.
    expect(stored.filter((s) => s.startsWith(viaChain.id))).toEqual([`${viaChain.id}:SUCCESS`]);
    expect(await (await tasks.replaceGroup.delay(1)).get(T)).toEqual([2, 3]);
  }, 30_000);
});
