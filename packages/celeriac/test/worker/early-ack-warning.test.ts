/**
 * The start-up warning that lost tasks go unreported (RabbitMQ broker, rpc:// results: nowhere
 * to record running tasks) appears only when some task acks early: an app running late acks
 * throughout loses nothing on a worker's death, and was warned all the same.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { createApp, Worker, type Settings } from '../../src/index.js';

const ready = await amqpAvailable();
const WARNING = /lost tasks are not reported: the amqp broker keeps no record of running tasks and the rpc result backend/;

describe.runIf(ready)('worker: the early-ack warning on RabbitMQ', () => {
  let vhost = '';
  beforeAll(async () => {
    vhost = await createVhost('earlyack');
  });
  afterAll(async () => {
    if (vhost !== '') await deleteVhost(vhost);
  });

  /** Starts and stops a worker with `settings` (and one task with `acksLate`); returns its log. */
  async function startLog(settings: Settings, acksLate?: boolean): Promise<string> {
    let text = '';
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((text += chunk.toString()), done()) });
    const app = createApp({ broker: vhostUrl(vhost), backend: 'rpc://', ...settings }, { env: {}, logger: pino({ level: 'info' }, sink) });
    app.task('earlyack.add', acksLate === undefined ? {} : { acksLate }, (x: number, y: number) => x + y);
    const worker = new Worker(app, { hostname: `earlyack-${process.pid}@test`, queues: [`earlyack-${process.pid}`] });
    try {
      await worker.start();
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    }
    return text;
  }

  it('is not given when every task acks late', async () => {
    expect(await startLog({ taskAcksLate: true })).not.toMatch(WARNING);
  }, 60_000);

  it('is given when the app acks early, or one task does', async () => {
    expect(await startLog({ taskAcksLate: false })).toMatch(WARNING);
    expect(await startLog({ taskAcksLate: true }, false)).toMatch(WARNING);
  }, 60_000);
});
