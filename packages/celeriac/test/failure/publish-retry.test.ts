/**
 * Publish retry against a real redis-server of this test's own (a free port, no persistence),
 * started late, killed and restarted, and behind a fault proxy that cuts every connection:
 * a send made while the broker is down waits under `taskPublishRetryPolicy` and lands once the
 * broker answers; once the policy is spent it fails with a PublishError carrying the cause.
 * The interval math and option handling are unit-tested in src/core/publish-retry.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp, type App } from '../../src/index.js';
import { ErrorCodes } from '../../src/errors.js';
import { PublishError } from '../../src/core/publish-retry.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../support/node-script.js';
import { freePort, RedisServerProcess, redisServerOnPath } from '../support/redis.js';

const hasRedisServer = redisServerOnPath('failure: publish retry');

const QUEUE = 'publish-retry';
/** Each attempt gives up after 300 ms; retries come every 0.1-0.3 s, until the broker answers. */
const FOREVER = { maxRetries: null, intervalStart: 0.1, intervalStep: 0.1, intervalMax: 0.3 };

function retryingApp(url: string, policy: object = FOREVER) {
  const retries: string[] = [];
  const sink = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      const line = JSON.parse(chunk.toString()) as { msg: string };
      if (line.msg.includes('broker unreachable')) retries.push(line.msg);
      done();
    },
  });
  const app = createApp(
    { broker: url, backend: 'memory://', brokerTransportOptions: { connectTimeoutMs: 300 }, taskPublishRetryPolicy: policy },
    { env: {}, logger: pino({ level: 'warn' }, sink) },
  );
  return { app, retries };
}

/** Task ids in the queue's list on the server at `url`. */
async function queuedIds(url: string): Promise<string[]> {
  const client = createClient({ url });
  await client.connect();
  try {
    const raw = await client.lRange(QUEUE, 0, -1);
    return raw.map((r) => (JSON.parse(r) as { headers: { id: string } }).headers.id).sort();
  } finally {
    client.destroy();
  }
}

describe.runIf(hasRedisServer)('failure: publish retry on a real redis-server', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('a send made before Redis starts waits, retrying, and lands once it is up; again after a kill and restart', async () => {
    const server = new RedisServerProcess(await freePort());
    cleanup.push(() => server.kill());
    const { app, retries } = retryingApp(server.url);
    cleanup.push(() => app.close());
    const sent: string[] = [];
    for (let round = 0; round < 3; round++) {
      const before = retries.length;
      const sending = app.sendTask('pr.task', [round], {}, { queue: QUEUE });
      await waitFor(() => retries.length >= before + 2, `two retries of send ${round} while Redis is down`, 20_000);
      await server.start();
      sent.push((await sending).id);
      expect(await queuedIds(server.url)).toEqual([sent[round]]);
      await server.kill();
    }
    expect(retries[0]).toMatch(/^send task pr\.task\[.+\]: broker unreachable \(.*ECONNREFUSED.*\); retry 1 in 0\.1 s$/);
  }, 90_000);

  it('fails with a PublishError that carries the cause once the policy is spent', async () => {
    const server = new RedisServerProcess(await freePort());
    const { app, retries } = retryingApp(server.url, { maxRetries: 2, intervalStart: 0, intervalStep: 0.05, intervalMax: 0.05 });
    cleanup.push(() => app.close());
    const err = await app.sendTask('pr.task', [1], {}, { queue: QUEUE }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT, attempts: 3 });
    expect((err as Error).message).toMatch(/after 3 attempts \(retryPolicy spent\)/);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).cause).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect(retries).toHaveLength(2);
  }, 60_000);

  it('once Redis has been away for connectTimeoutMs, a send fails within its retry intervals, not connectTimeoutMs per attempt', async () => {
    // Before, every attempt of every send waited connectTimeoutMs for the reconnect: a send
    // failed after 4 x 10 s with the defaults (the reference API answered its 503 after 41 s),
    // and said only "Redis error during publish to celery: Error".
    const server = new RedisServerProcess(await freePort());
    cleanup.push(() => server.kill());
    await server.start();
    const app = createApp(
      { broker: server.url, backend: 'memory://', brokerTransportOptions: { connectTimeoutMs: 2000 }, taskPublishRetryPolicy: { maxRetries: 3, intervalStart: 0, intervalStep: 0.05, intervalMax: 0.05 } },
      { env: {}, logger: pino({ level: 'silent' }) },
    );
    cleanup.push(() => app.close());
    await app.sendTask('pr.task', [0], {}, { queue: QUEUE });
    await server.kill();
    const timed = async (n: number) => {
      const started = performance.now();
      const err = await app.sendTask('pr.task', [n], {}, { queue: QUEUE }).then(() => null, (e: unknown) => e);
      return { err, ms: performance.now() - started };
    };
    // The first send of the outage waits for what is left of connectTimeoutMs (four attempts took 8 s).
    const first = await timed(1);
    expect(first.err).toBeInstanceOf(PublishError);
    expect(first.ms).toBeLessThan(4000);
    expect((first.err as Error).message).toMatch(/after 4 attempts \(retryPolicy spent\): Redis error during publish to \S+: not sent: (no connection to Redis within|Redis has been unreachable for) 2000 ms/);
    // Later ones fail at once on each attempt.
    const later = await timed(2);
    expect(later.err).toBeInstanceOf(PublishError);
    expect(later.ms).toBeLessThan(1500);
    expect((later.err as Error).message).toMatch(/not sent: Redis has been unreachable for 2000 ms \(connectTimeoutMs\) or more: .*ECONNREFUSED/);
    // Back: sends land again once the client has reconnected (its backoff is at most 2 s).
    await server.start();
    let landed = '';
    await waitFor(async () => (landed = await app.sendTask('pr.task', [3], {}, { queue: QUEUE }).then((r) => r.id, () => '')) !== '', 'a send after the restart', 10_000);
    expect(await queuedIds(server.url)).toEqual([landed]);
  }, 60_000);

  it('holds the process while a send waits between retries: a script whose last work is the send ends with its outcome', async () => {
    // Nothing else keeps the child alive: no top-level await, the broker refuses every
    // connection. The clock's timers never hold a process, and the retry waited on one: the
    // child exited with code 0 while the send was pending, printing neither line.
    const code = `
      const { createApp } = await import(${JSON.stringify(libraryModuleUrl('index.ts'))});
      const app = createApp({ broker: 'redis://127.0.0.1:${await freePort()}/0', backend: 'memory://', logLevel: 'silent',
        brokerTransportOptions: { connectTimeoutMs: 200 }, taskPublishRetryPolicy: { maxRetries: 2, intervalStart: 0.3, intervalStep: 0, intervalMax: 0.3 } });
      void app.sendTask('pr.task', [1], {}, { queue: '${QUEUE}' }).then(
        () => console.log('SENT'),
        (err) => console.log('FAILED', err.name, err.attempts),
      ).finally(() => app.close());
    `;
    const out = execFileSync(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('FAILED PublishError 3');
  }, 90_000);

  it('a flapping broker (every connection cut, then healed, three times) loses no send', async () => {
    const server = new RedisServerProcess(await freePort());
    cleanup.push(() => server.kill());
    await server.start();
    const proxy = new FaultProxy(server.port);
    await proxy.start();
    cleanup.push(() => proxy.close());
    const { app, retries }: { app: App; retries: string[] } = retryingApp(proxy.redisUrl(0));
    cleanup.push(() => app.close());
    const sent = [(await app.sendTask('pr.task', ['first'], {}, { queue: QUEUE })).id];
    for (let round = 0; round < 3; round++) {
      proxy.cut();
      const before = retries.length;
      const sending = app.sendTask('pr.task', [round], {}, { queue: QUEUE });
      await waitFor(() => retries.length > before, `a retry of send ${round} while the proxy cuts`, 20_000);
      proxy.heal();
      sent.push((await sending).id);
    }
    expect(proxy.stats.cut).toBeGreaterThan(0);
    // At least once: a write applied whose reply was cut may be there twice, never missing.
    const queued = await queuedIds(server.url);
    for (const id of sent) expect(queued).toContain(id);
  }, 90_000);
});
