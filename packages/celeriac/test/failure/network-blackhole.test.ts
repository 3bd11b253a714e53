/**
 * A network path that dies silently (no FIN, no RST: a dropped route, an expired NAT or
 * firewall entry) under a running worker. Every connection of the worker goes through a
 * fault proxy (test/support/fault-proxy.ts) that stalls all open connections at once and
 * forwards new ones. The worker must notice on its own, reconnect and run a task sent
 * afterwards (by a producer connected directly to Redis): a worker never sits idle on a dead
 * connection. The worker's broker and backend get a short `commandTimeoutMs` (30 s by default),
 * the limit that makes a command on a dead path fail and its connection be replaced, so the
 * test waits seconds for that, not half a minute per connection. The blocked fetch on the
 * doorbell line sends no command of its own: its line is found stuck once the command
 * connection is back and answers (bell.ts `unblock`). Before that retried a failed push, the
 * task ran 40.0-40.1 s after the drop in six runs of 2026-11-30 (the line's idle timeout), and
 * past 60 s in one under CI's load; the bound below is half of that.
 *
 * The drop comes while the worker's blocked fetch is in Redis (its BRPOP listed by CLIENT
 * LIST), so the task's publish ends that block in Redis and its fetch takes the message under
 * a lease, its reply lost on the dead path. The worker gives back what such a fetch took once
 * a fetch works again (brokers/redis/lost-fetches.ts); before, the message waited for its lease
 * to run out and the recovery sweep: 60-65 s after the drop on 2026-12-02, when the drop came
 * 0.1-1.5 s after the first task (every one of 14 tries), and in 1 of ~42 CI runs of the test
 * when it came at once. The worker's blocks last its quiet poll (1 s) from the start, so the
 * drop finds one out nearly every time.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { RedisBackend, RedisBroker } from '../../src/exports/redis.js';
import { createClient } from 'redis';
import { waitFor } from 'celeriac/testing';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';
import { FaultProxy } from '../support/fault-proxy.js';

const ready = await shouldRunRedisTests('failure: silent network drop');

describe.runIf(ready)('failure: a silently dead network path under a worker', () => {
  let server: RedisServerProcess;
  let proxy: FaultProxy;
  let workerApp: App;
  let producer: App;
  let worker: Worker;

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    proxy = new FaultProxy(server.port);
    await proxy.start();
    const viaProxy = `redis://127.0.0.1:${proxy.port}/0`;
    const commandTimeoutMs = 2000;
    workerApp = createApp({ broker: viaProxy, backend: viaProxy }, {
      env: {},
      logger: pino({ level: process.env.BH_LOG ?? 'silent' }),
      broker: new RedisBroker(viaProxy, { commandTimeoutMs, quietAfterMs: 1 }),
      backend: new RedisBackend({ url: viaProxy, commandTimeoutMs }),
    });
    workerApp.task('net.add', (x: number, y: number) => x + y);
    worker = new Worker(workerApp, { queues: ['celery'], concurrency: 1, hostname: `net-${process.pid}@test` });
    await worker.start();
    producer = createApp({ broker: server.url, backend: server.url }, { env: {}, logger: pino({ level: 'silent' }) });
  }, 30_000);

  afterAll(async () => {
    // The connections stalled by the test stay dead until the proxy drops them; closing it
    // first spares each of them the 2 s a client waits for a graceful QUIT on a dead path.
    await proxy?.close();
    await worker?.close({ deadlineMs: 500 });
    await workerApp?.close();
    await producer?.close();
    await server?.kill();
  }, 30_000);

  it('runs a task sent after every connection of the worker went dead', async () => {
    expect(await (await producer.sendTask('net.add', [1, 2])).get({ timeoutMs: 10_000 })).toBe(3);
    const watch = createClient({ url: server.url });
    await watch.connect();
    try {
      await waitFor(async () => /name=celeriac-broker-bell .*cmd=brpop/.test(await watch.sendCommand(['CLIENT', 'LIST'])), 'the worker blocked on its doorbells in Redis', { timeoutMs: 10_000, maxIntervalMs: 5 });
    } finally {
      await watch.quit();
    }
    proxy.stall(); // open connections go dead
    proxy.heal(); // new ones are forwarded, as after the network came back
    const droppedAt = Date.now();
    const r = await producer.sendTask('net.add', [20, 22]);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
    console.log(`silent network drop: task ran ${((Date.now() - droppedAt) / 1000).toFixed(1)} s after the drop`);
    expect(proxy.liveConnections).toBeGreaterThan(0);
  }, 70_000);
});
