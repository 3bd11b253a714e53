/**
 * Celeriac quickstart: a worker and a producer in one process, on the embedded memory broker.
 * Run it from the repository root with `npm start`.
 */
import { TaskError, Worker } from 'celeriac';
import { add, app, fail, progress } from './tasks.js';

// 1. Start a worker. It consumes the default queue ('celery') with up to 4 tasks at once.
const worker = new Worker(app, { concurrency: 4 });
await worker.start();
console.log(`worker ${worker.hostname} consuming ${worker.options.queues.join(', ')}`);

// 2. delay(): send with positional arguments, then wait for the result (no polling).
const sum = await add.delay(2, 3);
console.log(`add(2, 3) = ${await sum.get({ timeoutMs: 5_000 })}`);

// 3. applyAsync() with a countdown: the broker holds the message for a second.
const sentAt = Date.now();
const later = await add.applyAsync([20, 22], { countdown: 1 });
const value = await later.get({ timeoutMs: 5_000 });
console.log(`add(20, 22) with countdown 1 s = ${value} after ${((Date.now() - sentAt) / 1000).toFixed(1)} s`);

// 4. link: when add(2, 2) succeeds, its result is prepended to the callback's arguments,
//    so the callback runs add(4, 10).
const linked = await add.applyAsync([2, 2], { link: add.s(10) });
console.log(`add(2, 2) = ${await linked.get({ timeoutMs: 5_000 })}`);
const [callback] = await linked.children();
if (callback === undefined) throw new Error('the link callback was not recorded');
console.log(`linked add(4, 10) = ${await callback.get({ timeoutMs: 5_000 })}`);

// 5. sendTask(): call by name, without importing the task (it could be written in Python).
const byName = await app.sendTask('proj.add', [1, 1]);
console.log(`sendTask('proj.add', [1, 1]) = ${await byName.get({ timeoutMs: 5_000 })}`);

// 6. Progress: a bound task stores PROGRESS states; state() and info() read the latest one.
const job = await progress.delay(3);
await new Promise((resolve) => setTimeout(resolve, 200));
console.log(`progress: state while running = ${await job.state()}, info = ${JSON.stringify(await job.info())}`);
console.log(`progress: result = ${JSON.stringify(await job.get({ timeoutMs: 5_000 }))}`);

// 7. A failing task: get() rethrows its error as a TaskError carrying the remote type.
const failing = await fail.delay(-1);
try {
  await failing.get({ timeoutMs: 5_000 });
} catch (err) {
  if (!(err instanceof TaskError)) throw err;
  console.log(`fail(-1) raised ${err.excType} (module ${err.excModule}): ${err.message}`);
}
console.log(`fail(-1) state = ${await failing.state()}`);

// 8. Shut down: let running tasks finish, then close the broker and backend.
await worker.close();
await app.close();
console.log('done');
