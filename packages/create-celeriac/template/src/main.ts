/**
 * `npm start`: a worker, beat and a producer in one process, on the memory:// broker (or the
 * broker of CELERY_BROKER_URL). In production each runs as its own process: `npm run worker`,
 * `npm run beat`, and your code calling `add.delay(...)`.
 */
import { Worker } from 'celeriac';
import { Beat } from 'celeriac/beat';
import { add, app, slugify } from './app.js';

const worker = new Worker(app, { concurrency: 4 });
await worker.start();
const beat = new Beat(app);
await beat.start();

const sum = await add.delay(2, 3);
console.log('add(2, 3) =', await sum.get({ timeoutMs: 10_000 }));
const title = await slugify.delay('Hello, Celeriac!');
console.log('slugify =', await title.get({ timeoutMs: 10_000 }));
console.log('worker and beat are running; Ctrl-C stops them');

async function stop(): Promise<void> {
  await beat.close();
  await worker.close();
  await app.close();
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
