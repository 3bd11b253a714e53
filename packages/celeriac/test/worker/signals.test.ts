/**
 * Celery's signals (`app.on`) and the per-task hooks, in every pool: the body's signals and
 * hooks fire where the body runs (the worker for async, a pool thread or process for threads
 * and prefork, where `workerProcessInit` fires first), in Celery's order, with async
 * handlers waited for and a throwing handler or hook ignored; the worker's own signals
 * (received, unknown, rejected, revoked, a hard time limit, worker lifecycle) and the
 * publish signals fire in the worker or the sender.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Message } from '../../src/protocol/types.js';
import { defineSignalTasks } from './fixtures/signals-app.js';
import { closeEnvs, makeEnv, waitFor, waitForState } from './helpers.js';
import { fixtureModule } from '../support/node-script.js';

// Children boot dist/'s child-main.js with plain node when dist/ is current (test/support/node-script.ts).
vi.mock('../../src/worker/pools/spawn-child.js', async (original) => (await (await import('../support/node-script.js')).compiledSpawnChild()) ?? original());

const appModule = fixtureModule(new URL('./fixtures/signals-app.ts', import.meta.url));

afterEach(closeEnvs);

/** What one run of each task leaves in the record, in order. */
const RUN_LINES = [
  'prerun:sig.add:2', 'onSuccess:5', 'success:sig.add:5', 'after:SUCCESS', 'postrun:sig.add:SUCCESS',
  'prerun:sig.fail:0', 'onFailure:nope', 'failure:sig.fail:nope:body', 'after:FAILURE', 'postrun:sig.fail:FAILURE',
  'prerun:sig.retry:0', 'onRetry', 'retry:sig.retry:0', 'after:RETRY', 'postrun:sig.retry:RETRY',
  'prerun:sig.retry:0', 'onSuccess:"retried"', 'success:sig.retry:"retried"', 'after:SUCCESS', 'postrun:sig.retry:SUCCESS',
  'prerun:sig.broken_hook:0', 'success:sig.broken_hook:"fine"', 'postrun:sig.broken_hook:SUCCESS',
  'prerun:sig.seen:0',
];

describe.each(['async', 'threads', 'prefork'] as const)('signals in the %s pool', (pool) => {
  it('fire around each body where it runs, in order, whatever the handlers throw', async () => {
    const env = makeEnv();
    const tasks = defineSignalTasks(env.app);
    const worker = await env.startWorker({ pool, concurrency: 1, ...(pool === 'async' ? {} : { appModule }) });
    expect(await (await tasks.add.delay(2, 3)).get({ timeoutMs: 15_000 })).toBe(5);
    const failed = await tasks.fail.delay();
    await waitForState(env, failed.id, 'FAILURE', 15_000);
    expect(await (await tasks.retry.delay()).get({ timeoutMs: 15_000 })).toBe('retried');
    expect(await (await tasks.brokenHook.delay()).get({ timeoutMs: 15_000 })).toBe('fine');
    const { who, seen } = await (await tasks.seen_.delay()).get({ timeoutMs: 15_000 });
    expect(seen).toEqual(['workerProcessInit:true', ...RUN_LINES]);
    if (pool === 'async') {
      expect(who).toBe(process.pid);
      expect(env.lines.some((l) => l.level === 50 && l.msg.includes('taskPrerun signal handler failed'))).toBe(true);
      expect(env.lines.some((l) => l.level === 50 && l.msg.includes('onSuccess hook of sig.broken_hook failed'))).toBe(true);
    } else {
      // The body ran in a child, and the worker's own app saw none of it.
      expect(worker.pool.stats().processes).toContain(who);
      expect(who).not.toBe(process.pid);
      expect(tasks.seen).toEqual([]);
    }
  });

  if (pool !== 'async') {
    it('a hard time limit that ends the child is announced as taskFailure in the worker', async () => {
      const env = makeEnv();
      const tasks = defineSignalTasks(env.app);
      await env.startWorker({ pool, concurrency: 1, appModule });
      const r = await tasks.spin.delay();
      await waitForState(env, r.id, 'FAILURE', 20_000);
      await waitFor(() => tasks.seen.length > 0, 'the failure signal', 10_000);
      expect(tasks.seen).toEqual(['failure:sig.spin:Time limit (1s) exceeded:worker']);
      // A fresh child took over, and it too announced itself.
      const { seen } = await (await tasks.seen_.delay()).get({ timeoutMs: 15_000 });
      expect(seen).toEqual(['workerProcessInit:true', 'prerun:sig.seen:0']);
    });
  }
});

describe('signals of the worker and the sender', () => {
  it('workerInit, workerReady and workerShutdown bracket the worker, with its node name', async () => {
    const env = makeEnv();
    const lines: string[] = [];
    env.app.on('workerInit', (p) => void lines.push(`init:${p.hostname}`));
    env.app.on('workerProcessInit', () => void lines.push('processInit'));
    env.app.on('workerReady', async (p) => {
      await new Promise((resolve) => setImmediate(resolve));
      lines.push(`ready:${p.hostname}`);
    });
    env.app.on('workerShutdown', (p) => void lines.push(`shutdown:${p.hostname}`));
    const worker = await env.startWorker({ hostname: 'sig@host' });
    expect(lines).toEqual(['init:sig@host', 'processInit', 'ready:sig@host']);
    await worker.close();
    expect(lines).toEqual(['init:sig@host', 'processInit', 'ready:sig@host', 'shutdown:sig@host']);
  });

  it('taskReceived, taskUnknown, taskRevoked and taskRejected fire in the worker', async () => {
    const env = makeEnv();
    const lines: string[] = [];
    env.app.on('taskReceived', async (p) => {
      await new Promise((resolve) => setImmediate(resolve)); // the task waits for it
      lines.push(`received:${p.name}`);
    });
    env.app.on('taskPrerun', (p) => void lines.push(`prerun:${p.task.name}`));
    env.app.on('taskUnknown', (p) => void lines.push(`unknown:${p.name}:${(p.error as Error).name}`));
    env.app.on('taskRevoked', (p) => void lines.push(`revoked:${p.name}:${p.expired}:${p.terminated}`));
    env.app.on('taskRejected', (p) => void lines.push(`rejected:${p.queue}:${p.reason.split(':')[0]}`));
    const ok = env.app.task('sig.ok', () => 1);
    const victim = env.app.task('sig.victim', () => 2);
    const revoked = await victim.delay();
    await revoked.revoke();
    const expired = await victim.applyAsync([], { expires: new Date(Date.now() - 1000) });
    await env.startWorker();
    await waitForState(env, revoked.id, 'REVOKED', 10_000);
    await waitForState(env, expired.id, 'REVOKED', 10_000);
    const unknown = await env.app.sendTask('sig.nobody');
    await waitForState(env, unknown.id, 'FAILURE', 10_000);
    const garbage: Message = {
      headers: { lang: 'py', task: 'sig.ok', id: 'garbage-1' },
      properties: { correlation_id: 'garbage-1', reply_to: '', delivery_mode: 2, priority: 0 },
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      body: '[[1], {',
    };
    await env.broker.publish(garbage, { exchange: '', routingKey: 'celery' });
    await waitFor(() => lines.some((l) => l.startsWith('rejected')), 'the rejected signal', 10_000);
    expect(await (await ok.delay()).get({ timeoutMs: 10_000 })).toBe(1);
    // Independent messages: their order is not asserted, only that received precedes prerun.
    expect([...lines].sort()).toEqual([
      'prerun:sig.ok',
      'received:sig.ok',
      // As in Celery (worker/strategy.py), a revoked or expired message is never received: revoked only.
      'rejected:celery:bad-json',
      'revoked:sig.victim:false:false',
      'revoked:sig.victim:true:false',
      'unknown:sig.nobody:NotRegistered',
    ]);
    expect(lines.indexOf('received:sig.ok')).toBeLessThan(lines.indexOf('prerun:sig.ok'));
  });

  it('beforeTaskPublish may add headers the task sees; afterTaskPublish follows the send', async () => {
    const env = makeEnv();
    const lines: string[] = [];
    env.app.on('beforeTaskPublish', (p) => {
      lines.push(`before:${p.name}:${p.routingKey}:${p.id === p.message.headers.id}`);
      p.message.extraHeaders['x-trace'] = 'abc';
    });
    env.app.on('afterTaskPublish', async (p) => {
      await new Promise((resolve) => setImmediate(resolve));
      lines.push(`after:${p.name}:${p.exchange}`);
    });
    const headers = env.app.task('sig.headers', { bind: true }, (ctx) => ctx.request.headers['x-trace'] ?? null);
    const r = await headers.delay();
    expect(lines).toEqual(['before:sig.headers:celery:true', 'after:sig.headers:']);
    await env.startWorker();
    expect(await r.get({ timeoutMs: 10_000 })).toBe('abc');
    const [b] = await env.app.sendTasks([{ name: 'sig.headers' }]);
    expect(await b!.get({ timeoutMs: 10_000 })).toBe('abc');
    expect(lines).toHaveLength(4);
  });

  it('a throwing beforeTaskPublish handler is logged and the task is still sent', async () => {
    const env = makeEnv();
    env.app.on('beforeTaskPublish', () => {
      throw new Error('publish hook boom');
    });
    env.app.on('afterTaskPublish', () => Promise.reject(new Error('rejected hook')));
    const t = env.app.task('sig.plain', () => 'sent');
    await env.startWorker();
    expect(await (await t.delay()).get({ timeoutMs: 10_000 })).toBe('sent');
    expect(env.lines.filter((l) => l.level === 50 && l.msg.includes('Publish signal handler failed'))).toHaveLength(2);
  });
});
