/**
 * A worker started before its Redis (the docker-compose start order): it waits, logging
 * Celery's "Cannot connect to broker ... Trying again in 2.00 seconds... (1)" per failed
 * attempt, and runs tasks once a redis-server of this test's own (free port) comes up. Closed
 * while it waits, it stops quietly; with brokerConnectionMaxRetries spent it fails with the
 * cause. The backoff and options are unit-tested in src/worker/startup-connect.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, ErrorCodes, Worker, type Settings } from '../../src/index.js';
import { freePort, RedisServerProcess, redisServerOnPath } from '../support/redis.js';

const hasRedisServer = redisServerOnPath('failure: worker started before its broker');

function appOn(url: string, settings: Settings = {}) {
  const lines: { msg: string; level: number }[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]), done()) });
  // Each attempt gives up after 300 ms; the retries follow Celery's 2 s, 4 s... backoff.
  const app = createApp({ broker: url, backend: url, brokerTransportOptions: { connectTimeoutMs: 300 }, ...settings }, { env: {}, logger: pino({ level: 'info' }, sink) });
  app.task('wsb.add', (x: number, y: number) => x + y);
  const cannot = () => lines.filter((l) => l.msg.startsWith('Cannot connect to broker'));
  return { app, lines, cannot };
}

describe.runIf(hasRedisServer)('failure: a worker started before its broker', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('waits for Redis with a log line per attempt, then runs tasks', async () => {
    const server = new RedisServerProcess(await freePort());
    cleanup.push(() => server.kill());
    const { app, cannot } = appOn(server.url);
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `wsb-${process.pid}@test`, concurrency: 2 });
    cleanup.push(() => worker.close({ deadlineMs: 2000 }));
    const starting = worker.start();
    await waitFor(() => cannot().length >= 1, 'a "Cannot connect" line', 20_000);
    expect(worker.state).toBe('starting');
    // Said while the first attempt is on (each waits up to 300 ms here), or as it fails.
    expect(cannot()[0]?.msg).toMatch(new RegExp(`^Cannot connect to broker redis://127\\.0\\.0\\.1:${server.port}/0: .*ECONNREFUSED.*\\. (Still trying\\.\\.\\.|Trying again in 2\\.00 seconds\\.\\.\\. \\(1\\))$`));
    await server.start();
    await starting;
    expect(worker.state).toBe('running');
    const r = await app.sendTask('wsb.add', [20, 22]);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
  }, 60_000);

  it('says why as soon as the connection fails, before its attempt gives up', async () => {
    // An attempt waits up to connectTimeoutMs (a minute here): nothing was said meanwhile.
    const port = await freePort();
    const { app, cannot } = appOn(`redis://127.0.0.1:${port}/0`, { brokerTransportOptions: { connectTimeoutMs: 60_000 } });
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `wsb4-${process.pid}@test` });
    cleanup.push(() => worker.close({ deadlineMs: 2000 }));
    void worker.start().catch(() => undefined);
    await waitFor(() => cannot().length >= 1, 'a "Cannot connect" line', 20_000);
    expect(cannot()[0]?.msg).toMatch(new RegExp(`^Cannot connect to broker redis://127\\.0\\.0\\.1:${port}/0: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\. Still trying\\.\\.\\.$`));
    expect(worker.state).toBe('starting');
  }, 60_000);

  it('says why its result backend cannot be reached as soon as it fails, too', async () => {
    const port = await freePort();
    const lines: { msg: string }[] = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) };
    const app = createApp(
      { broker: 'memory://', backend: `redis://127.0.0.1:${port}/0`, resultBackendTransportOptions: { connectTimeoutMs: 60_000 } },
      { env: {}, logger: pino({ level: 'info' }, sink) },
    );
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `wsb5-${process.pid}@test` });
    cleanup.push(() => worker.close({ deadlineMs: 2000 }));
    void worker.start().catch(() => undefined);
    const cannot = () => lines.filter((l) => l.msg.startsWith('Cannot connect to result backend'));
    await waitFor(() => cannot().length >= 1, 'a "Cannot connect" line', 20_000);
    expect(cannot()[0]?.msg).toMatch(new RegExp(`^Cannot connect to result backend redis://127\\.0\\.0\\.1:${port}/0: connect ECONNREFUSED .*\\. Still trying\\.\\.\\.$`));
    expect(worker.state).toBe('starting');
  }, 60_000);

  it('closed while it waits, it stops quietly', async () => {
    const port = await freePort();
    const { app, cannot } = appOn(`redis://127.0.0.1:${port}/0`);
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `wsb2-${process.pid}@test` });
    const starting = worker.start();
    await waitFor(() => cannot().length >= 1, 'a "Cannot connect" line', 20_000);
    await worker.close({ deadlineMs: 2000 });
    await expect(starting).resolves.toBeUndefined();
    expect(worker.state).toBe('closed');
  }, 60_000);

  it('fails with the URL and the cause once brokerConnectionMaxRetries is spent', async () => {
    const port = await freePort();
    const { app, cannot } = appOn(`redis://127.0.0.1:${port}/0`, { brokerConnectionMaxRetries: 1 });
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `wsb3-${process.pid}@test` });
    cleanup.push(() => worker.close({ deadlineMs: 2000 }));
    const err = await worker.start().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect((err as Error).message).toMatch(new RegExp(`^Cannot connect to broker redis://127\\.0\\.0\\.1:${port}/0 after 2 attempts \\(brokerConnectionMaxRetries 1\\): .*ECONNREFUSED`));
    expect(cannot()).toHaveLength(1);
  }, 60_000);
});
