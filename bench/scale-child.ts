/**
 * One process of the scale-out bench (bench/scale.ts): a Celeriac worker or a producer, on the
 * broker URL it is given. IPC: 'ready' once connected; on 'go' a worker starts consuming and a
 * producer sends its share (bulk sends of 100) then says 'sent'; on 'count' a worker answers
 * with how many tasks it ran; on 'stop' it closes and exits.
 *
 * Environment: SCALE_ROLE (worker | producer), SCALE_BROKER, SCALE_QUEUES (comma list),
 * SCALE_TASKS (a producer's share), SCALE_CONCURRENCY (a worker's), SCALE_TRANSPORT (JSON).
 */
import { createApp, Worker } from 'celeriac';

type FromParent = { type: 'go' } | { type: 'count' } | { type: 'stop' };

const e = process.env;
const role = e['SCALE_ROLE'];
const queues = (e['SCALE_QUEUES'] ?? 'scale').split(',');
const app = createApp(
  {
    broker: e['SCALE_BROKER'] ?? '',
    backend: 'memory://',
    logLevel: 'warn',
    taskIgnoreResult: true,
    brokerTransportOptions: JSON.parse(e['SCALE_TRANSPORT'] ?? '{}') as Record<string, unknown>,
  },
  { env: {} },
);
let ran = 0;
app.task('scale.noop', () => {
  ran += 1;
});
const send = (m: object) => process.send?.(m);

async function produce(total: number): Promise<void> {
  for (let sent = 0; sent < total; ) {
    const n = Math.min(100, total - sent);
    await app.sendTasks(Array.from({ length: n }, (_, i) => ({ name: 'scale.noop', args: [], options: { queue: queues[(sent + i) % queues.length] as string } })));
    sent += n;
  }
}

async function main(): Promise<void> {
  await app.broker.connect();
  const worker = role === 'worker' ? new Worker(app, { queues, concurrency: Number(e['SCALE_CONCURRENCY'] ?? 8) }) : undefined;
  process.on('message', (m: FromParent) => {
    if (m.type === 'go') {
      if (worker) void worker.start();
      else void produce(Number(e['SCALE_TASKS'] ?? 0)).then(() => send({ type: 'sent' }), (err: unknown) => send({ type: 'error', message: String(err) }));
    } else if (m.type === 'count') {
      send({ type: 'count', ran });
    } else if (m.type === 'stop') {
      void (async () => {
        await worker?.close({ deadlineMs: 2000 });
        await app.close();
        process.exit(0);
      })();
    }
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: String(err) });
  process.exit(1);
});
