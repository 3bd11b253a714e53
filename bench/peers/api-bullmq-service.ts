/**
 * The API bench's counterpart of the reference app (bench/api.ts): a minimal Fastify service on
 * BullMQ with the same two routes the bench calls, in a process of its own.
 *
 * - `POST /tasks/:name` `{ args }`: adds a job named after the task; 202 `{ taskId, name, status }`.
 * - `GET /tasks/:id/events`: server-sent `task` events, `{ taskId, state, result }`, until the job
 *   is final (`SUCCESS` / `FAILURE`, the reference app's state names), from one QueueEvents
 *   subscription shared by every stream, as the reference app's feed shares one event
 *   subscription.
 *
 * Run as `node --import tsx bench/peers/api-bullmq-service.ts` (tsx, as the reference app runs)
 * with BENCH_REDIS_HOST/PORT/DB, BENCH_PREFIX, BENCH_QUEUE and BENCH_HTTP_PORT (0: any free
 * port); prints `READY <port>` once listening. SIGTERM closes it.
 */
import Fastify from 'fastify';
import { Job, Queue, QueueEvents } from 'bullmq';

const e = process.env;
const connection = { host: e.BENCH_REDIS_HOST ?? '127.0.0.1', port: Number(e.BENCH_REDIS_PORT ?? 6379), db: Number(e.BENCH_REDIS_DB ?? 0) };
const prefix = e.BENCH_PREFIX ?? 'bench-api';
const queueName = e.BENCH_QUEUE ?? 'tasks';

const queue = new Queue(queueName, { connection, prefix });
const events = new QueueEvents(queueName, { connection, prefix });
await events.waitUntilReady();

type Final = { taskId: string; state: 'SUCCESS' | 'FAILURE'; result: unknown };
/** Streams waiting for a job to end, by job id. */
const waiting = new Map<string, Set<(f: Final) => void>>();
const settle = (f: Final) => {
  const set = waiting.get(f.taskId);
  if (set === undefined) return;
  waiting.delete(f.taskId);
  for (const fn of set) fn(f);
};
events.on('completed', ({ jobId, returnvalue }) => settle({ taskId: jobId, state: 'SUCCESS', result: returnvalue }));
events.on('failed', ({ jobId, failedReason }) => settle({ taskId: jobId, state: 'FAILURE', result: failedReason }));

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

app.post<{ Params: { name: string }; Body: { args?: unknown[] } }>('/tasks/:name', {
  schema: { body: { type: 'object', properties: { args: { type: 'array', maxItems: 100 } }, additionalProperties: false } },
}, async (request, reply) => {
  const job = await queue.add(request.params.name, { args: request.body.args ?? [] });
  return reply.status(202).send({ taskId: job.id, name: request.params.name, status: `/tasks/${job.id}` });
});

app.get<{ Params: { id: string } }>('/tasks/:id/events', async (request, reply) => {
  const { id } = request.params;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive' });
  let closed = false;
  const send = (data: object) => {
    if (!closed) res.write(`event: task\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const finish = (f: Final) => {
    if (closed) return;
    send(f);
    closed = true;
    res.end();
  };
  // Listening first, then reading the job: a job that ends in between is seen either way.
  const set = waiting.get(id) ?? new Set();
  waiting.set(id, set);
  set.add(finish);
  res.on('close', () => {
    set.delete(finish);
    if (set.size === 0 && waiting.get(id) === set) waiting.delete(id);
  });
  // The state first, then the job's fields: read the other way round, a job ending in between
  // would look completed with no return value yet.
  const state = await queue.getJobState(id);
  if (state === 'completed' || state === 'failed') {
    const job = await Job.fromId(queue, id);
    if (state === 'completed') finish({ taskId: id, state: 'SUCCESS', result: job?.returnvalue });
    else finish({ taskId: id, state: 'FAILURE', result: job?.failedReason });
  } else send({ taskId: id, state: state === 'active' ? 'STARTED' : 'PENDING' });
});

await app.listen({ host: '127.0.0.1', port: Number(e.BENCH_HTTP_PORT ?? 0) });
const address = app.server.address();
process.stdout.write(`READY ${typeof address === 'object' && address !== null ? address.port : 0}\n`);

process.on('SIGTERM', () => {
  void app
    .close()
    .then(() => Promise.allSettled([events.close(), queue.close()]))
    .finally(() => process.exit(0));
});
