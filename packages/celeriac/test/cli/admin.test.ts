/**
 * `celeriac purge`, `migrate`, `shell` and `report`: in-process on memory brokers, and
 * migrate between two Redis key spaces.
 */
import { PassThrough } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateMessages } from '../../src/cli/commands/migrate.js';
import { maskSecrets, renderReport } from '../../src/cli/commands/report.js';
import { startShell } from '../../src/cli/commands/shell.js';
import type { CliContext } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { CeleriacError, createApp, ErrorCodes, type App } from '../../src/index.js';
import { MemoryBroker } from '../../src/exports/memory.js';
import { deleteKeys, shouldRunRedisTests } from '../support/redis.js';
import { type TestApp, makeApp, run, takeOne } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

async function runWith(args: string[], app: App, answers: (string | null)[]) {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const ctx: CliContext = {
    app,
    io: { out: (s) => void out.push(s), err: (s) => void err.push(s), cwd: process.cwd(), prompt: async (q) => (asked.push(q), answers.shift() ?? null) },
  };
  const code = await main(['node', 'celeriac', ...args], ctx);
  return { code, stdout: out.join(''), stderr: err.join(''), asked };
}

async function fill(app: App, queue: string, n: number) {
  for (let i = 0; i < n; i++) await app.sendTask('cli.add', [i, i], {}, { queue });
}

describe('celeriac purge', () => {
  it('asks first, and deletes nothing on no (exit 1, "Aborted!")', async () => {
    t = makeApp();
    await fill(t.app, 'celery', 3);
    const res = await runWith(['purge'], t.app, ['n']);
    expect(res.asked[0]).toBe('WARNING: This will remove all tasks from queue: celery.\n         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\nAre you sure you want to delete all tasks? [y/N]: ');
    expect(res).toMatchObject({ code: 1, stdout: '', stderr: 'Aborted!\n' });
    expect(await t.broker.queueLength('celery')).toBe(3);
    expect((await runWith(['purge'], t.app, [null])).code).toBe(1); // end of input = no
  });

  it('purges on yes and reports the count as celery does', async () => {
    t = makeApp();
    await fill(t.app, 'celery', 3);
    const res = await runWith(['purge'], t.app, ['y']);
    expect(res).toMatchObject({ code: 0, stdout: 'Purged 3 messages from 1 known task queue.\n' });
    expect(await t.broker.queueLength('celery')).toBe(0);
    expect((await runWith(['purge', '-f'], t.app, [])).stdout).toBe('No messages purged from 1 queue.\n');
  });

  it('-f skips the question; -Q picks queues and -X leaves some out', async () => {
    t = makeApp();
    await fill(t.app, 'a', 1);
    await fill(t.app, 'b', 2);
    await fill(t.app, 'c', 4);
    const res = await runWith(['purge', '-f', '-Q', 'a,b,c', '-X', 'c'], t.app, []);
    expect(res).toMatchObject({ code: 0, stdout: 'Purged 3 messages from 2 known task queues.\n', asked: [] });
    expect(await t.broker.queueLength('c')).toBe(4);
    expect((await runWith(['purge', '-f', '-Q', ' , '], t.app, [])).code).toBe(2);
  });
});

describe('migrateMessages', () => {
  it('moves every message of the queues, keeping priority, and stops when idle', async () => {
    const source = new MemoryBroker();
    const destination = new MemoryBroker();
    const app = createApp({ logLevel: 'silent' }, { broker: source, backend: undefined });
    try {
      await app.sendTask('t.a', [1], {}, { queue: 'q1' });
      await app.sendTask('t.b', [2], {}, { queue: 'q2', priority: 7 });
      const seen: string[] = [];
      const moved = await migrateMessages({ source, destination, queues: ['q1', 'q2'], idleMs: 200, forever: false, onMoved: (n, total, name) => seen.push(`${n}/${total} ${name}`) });
      expect(moved).toBe(2);
      expect(seen.map((s) => s.slice(4)).sort()).toEqual(['t.a', 't.b']);
      expect(seen.map((s) => s.slice(0, 3))).toEqual(['1/2', '2/2']);
      expect([await source.queueLength('q1'), await source.queueLength('q2')]).toEqual([0, 0]);
      const b = await takeOne(destination, 'q2');
      expect([b.task.headers.task, b.priority]).toEqual(['t.b', 7]);
      expect((await takeOne(destination, 'q1')).task.args).toEqual([1]);
    } finally {
      await Promise.all([app.close(), destination.close()]);
    }
  });

  it('--limit and --tasks leave the rest on the source, in order', async () => {
    const source = new MemoryBroker();
    const destination = new MemoryBroker();
    const app = createApp({ logLevel: 'silent' }, { broker: source });
    try {
      for (const name of ['t.a', 't.skip', 't.a', 't.a']) await app.sendTask(name, [], {}, { queue: 'q' });
      const moved = await migrateMessages({ source, destination, queues: ['q'], limit: 2, tasks: new Set(['t.a']), idleMs: 200, forever: false, onMoved: () => {} });
      expect(moved).toBe(2);
      expect(await destination.queueLength('q')).toBe(2);
      expect((await takeOne(source, 'q')).task.headers.task).toBe('t.skip');
      expect((await takeOne(source, 'q')).task.headers.task).toBe('t.a');
    } finally {
      await Promise.all([app.close(), destination.close()]);
    }
  });

  // -F: a window full of messages it does not move fetched nothing more, and it waited there
  // forever, moving nothing and saying nothing (the test timed out before 2026-12-01).
  it('-F stops with STATE once the messages it holds back fill its window, and gives them all back', async () => {
    const source = new MemoryBroker();
    const destination = new MemoryBroker();
    const app = createApp({ logLevel: 'silent' }, { broker: source });
    try {
      for (let i = 0; i < 500; i++) await app.sendTask('t.skip', [i], {}, { queue: 'q' });
      await app.sendTask('t.a', [], {}, { queue: 'q' });
      const outcome = await migrateMessages({ source, destination, queues: ['q'], tasks: new Set(['t.a']), idleMs: 200, forever: true, onMoved: () => {} }).then(
        (moved) => ({ moved }),
        (error: unknown) => ({ error: error as Error & { code?: string } }),
      );
      expect(outcome).toMatchObject({ error: { code: 'CELERIAC_ERR_STATE' } });
      const { message } = (outcome as { error: Error }).error;
      expect(message).toContain('it holds 500 messages it does not move: 500 not in -T/--tasks, 0 refused by the destination');
      expect(message).toContain('Every message fetched but not moved is back on the source.');
      expect(await source.queueLength('q')).toBe(501);
      expect(await destination.queueLength('q')).toBe(0);
      expect((await takeOne(source, 'q')).task.headers.task).toBe('t.skip');
    } finally {
      await Promise.all([app.close(), destination.close()]);
    }
  });

  it('-F names the first refused message when refusals fill its window', async () => {
    const source = new MemoryBroker();
    // The destination's own check, as RabbitMQ's for a task id over 255 bytes (amqp/limits.ts).
    const destination = new (class extends MemoryBroker {
      override publish(): Promise<void> {
        return Promise.reject(new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'correlation_id is 300 bytes'));
      }
    })();
    const app = createApp({ logLevel: 'silent' }, { broker: source });
    try {
      const first = await app.sendTask('t.bad', [], {}, { queue: 'q' });
      for (let i = 1; i < 500; i++) await app.sendTask('t.bad', [], {}, { queue: 'q' });
      const error = await migrateMessages({ source, destination, queues: ['q'], idleMs: 200, forever: true, onMoved: () => {} }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error?.code).toBe('CELERIAC_ERR_STATE');
      expect(error?.message).toContain(`0 not in -T/--tasks, 500 refused by the destination (the first t.bad[${first.id}]: correlation_id is 300 bytes)`);
      expect(await source.queueLength('q')).toBe(500);
    } finally {
      await Promise.all([app.close(), destination.close()]);
    }
  });
});

const redisReady = await shouldRunRedisTests('celeriac migrate');
describe.runIf(redisReady)('celeriac migrate between two Redis key spaces', () => {
  it('moves the messages and prints one line each', async () => {
    const [p1, p2] = [`mig-${randomUUID().slice(0, 8)}:`, `mig-${randomUUID().slice(0, 8)}:`];
    const from = `redis://127.0.0.1:6379/7?global_keyprefix=${p1}`;
    const to = `redis://127.0.0.1:6379/7?global_keyprefix=${p2}`;
    const producer = createApp({ broker: from, logLevel: 'silent' }, { env: {}, logger: pino({ level: 'silent' }) });
    const reader = createApp({ broker: to, logLevel: 'silent' }, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      const ids = [(await producer.sendTask('m.one', [1])).id, (await producer.sendTask('m.two', [2])).id];
      const res = await run(['migrate', from, to, '-Q', 'celery', '-t', '0.5']);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toBe(`Migrating task 1/2: m.one[${ids[0]}]\nMigrating task 2/2: m.two[${ids[1]}]\nMigrated 2 messages.\n`);
      expect(await producer.broker.queueLength('celery')).toBe(0);
      expect(await reader.broker.queueLength('celery')).toBe(2);
    } finally {
      await Promise.all([producer.close(), reader.close()]);
      await deleteKeys(p1, 'redis://127.0.0.1:6379/7');
      await deleteKeys(p2, 'redis://127.0.0.1:6379/7');
    }
  });
});

describe('celeriac shell', () => {
  it('evaluates piped input with app, tasks by name and the celeriac exports in scope', async () => {
    t = makeApp();
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString()));
    const done = startShell({ app: t.app, input, output, terminal: false });
    input.end([
      "console.log('TASKS', Object.keys(tasks).filter((n) => !n.startsWith('celery.')).sort().join(','))",
      "console.log('ADD', add === tasks['cli.add'], typeof createApp, typeof celeriac.Worker, app.settings.taskDefaultQueue)",
      "const r = await add.delay(2, 3); console.log('SENT', typeof r.id)",
      '',
    ].join('\n'));
    await done;
    expect(text).toContain('TASKS cli.add,cli.fail,cli.kw');
    expect(text).toContain('ADD true function function celery');
    expect(text).toContain('SENT string');
    expect(await t.broker.queueLength('celery')).toBe(1);
  });
});

describe('celeriac report', () => {
  it('prints versions, transports and non-default settings with secrets masked', async () => {
    t = makeApp();
    const app = createApp({ broker: 'memory://', backend: 'redis://:hunter2@example.invalid:6379/1', taskDefaultQueue: 'jobs', brokerTransportOptions: { password: 'hunter2', visibility_timeout: 5 } }, { env: {} });
    const text = renderReport(app);
    expect(text).toMatch(/^software -> celeriac:\d+\.\d+\.\d+ node:v\d+/);
    expect(text).toContain('settings -> transport:memory results:redis://:**@example.invalid:6379/1');
    expect(text).toContain('taskDefaultQueue: "jobs"');
    expect(text).toContain('brokerTransportOptions: {"password":"********","visibility_timeout":5}');
    expect(text).not.toContain('hunter2');
    const res = await run(['report'], { app: t.app });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('tasks: cli.add, cli.fail, cli.kw');
  });

  it('maskSecrets hides secret-looking keys and URL passwords at any depth', () => {
    expect(maskSecrets('x', { apiToken: 'abc', nested: [{ secret_key: 'k' }, 'redis://u:pw@h/0'] })).toEqual({ apiToken: '********', nested: [{ secret_key: '********' }, 'redis://u:**@h/0'] });
  });
});
