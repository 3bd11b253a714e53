/**
 * `npm start`: a worker, beat and a producer in one process, on the memory:// broker (or the
 * broker of CELERY_BROKER_URL). In production each runs as its own process: `npm run worker`,
 * `npm run beat`, and your code calling `add.delay(...)`.
 */
import { Worker } from 'celeriac';
import { Beat } from 'celeriac/beat';
import { add, app, slugify } from './app.js';

const worker = new Worker(app, { concurrency: 4 });
const beat = new Beat(app);
// On memory:// nothing else keeps Node running: hold the process up until stopped.
const keepAlive = setInterval(() => {}, 1 << 30);

// Ctrl-C (SIGINT) or SIGTERM at any moment, even while starting: beat, then the worker
// (it finishes its running tasks), then the app's connections, then exit 0.
let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    clearInterval(keepAlive);
    await beat.close();
    await worker.close();
    await app.close();
    process.exit(0);
  })();
  return stopping;
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

try {
  await worker.start();
  await beat.start();
  const sum = await add.delay(2, 3);
  console.log('add(2, 3) =', await sum.get({ timeoutMs: 10_000 }));
  const title = await slugify.delay('Hello, Celeriac!');
  console.log('slugify =', await title.get({ timeoutMs: 10_000 }));
  console.log('worker and beat are running; Ctrl-C stops them');
} catch (error) {
  // A stop while the demo ran closes what it was waiting on: that is not an error.
  if (stopping === undefined) throw error;
}
