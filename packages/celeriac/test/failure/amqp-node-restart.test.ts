/**
 * A RabbitMQ node restart (issue 45 §8): one private node (test/support/rabbit-cluster.ts, its
 * own Erlang name and ports 5690/25690, so it runs beside the three-node cluster test), a
 * late-ack worker on a classic queue under load while the node is killed -9 and started again
 * on its data: a crash, or a `docker restart` past its grace. Confirmed messages are on disk,
 * so every task runs (0 lost); the worker reconnects by itself and takes work again. A message
 * unacked when the node died comes back; this worker settles a redelivery of one it was still
 * running or had settled instead of running it again (amqp-consumer.ts), another worker would
 * run it (late acks: at least once), so runs twice are counted, not refused.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { waitFor } from 'celeriac/testing';
import { RabbitCluster, clusterAvailable } from '../support/rabbit-cluster.js';

const ready = clusterAvailable();
const BEFORE = 200;
const AFTER = 50;

describe.runIf(ready)('a RabbitMQ node killed -9 and restarted under load', () => {
  const node = new RabbitCluster({ nodes: 1, portBase: 5690, name: 'celeriac-restart' });
  let app: App | undefined;
  let worker: Worker | undefined;

  beforeAll(async () => {
    await node.startAll();
  }, 120_000);
  afterAll(async () => {
    await worker?.close({ deadlineMs: 3000 }).catch(() => undefined);
    await app?.close().catch(() => undefined);
    await node.destroy();
  }, 60_000);

  it('loses no task, and the worker reconnects by itself and runs what comes after', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) });
    app = createApp({ broker: node.url([1]), backend: 'memory://', taskAcksLate: true, workerPrefetchMultiplier: 2 }, { env: {}, logger });
    const runs = new Map<number, number>();
    app.task('r.work', async (n: number) => {
      runs.set(n, (runs.get(n) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 50)); // the task's work: real time
      return n;
    });
    worker = new Worker(app, { queues: ['celery'], concurrency: 4 });
    await worker.start();

    // Every message is confirmed (on disk) before the kill; most are still queued or running
    // then (four at a time, 50 ms each: 2.5 s of work).
    await Promise.all(Array.from({ length: BEFORE }, (_, n) => app!.sendTask('r.work', [n])));
    await waitFor(() => runs.size >= 20, 'work under way before the kill', 30_000);
    const ranBeforeKill = runs.size;
    await node.kill(1);
    expect(ranBeforeKill).toBeLessThan(BEFORE);
    await node.start(1);

    await waitFor(() => runs.size === BEFORE, `all ${BEFORE} tasks sent before the kill run`, 120_000);
    const results = await Promise.all(Array.from({ length: AFTER }, (_, k) => app!.sendTask('r.work', [BEFORE + k])));
    for (const [k, r] of results.entries()) expect(await r.get({ timeoutMs: 60_000 })).toBe(BEFORE + k);
    expect(runs.size).toBe(BEFORE + AFTER);
    expect(worker.state).toBe('running');
    expect(lines.some((l) => l.includes('reconnected to RabbitMQ'))).toBe(true);
    const twice = [...runs.values()].filter((c) => c > 1).length;
    console.info(`[node restart] ${BEFORE + AFTER} tasks, ${ranBeforeKill} run before the kill -9; none lost, ${twice} ran twice (late acks: at least once)`);
  }, 300_000);
});
