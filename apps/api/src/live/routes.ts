/**
 * @module live/routes
 * The live task page: `/` (plain HTML, one stylesheet, one script, all served from here),
 * `POST /live/tasks` to send `demo.process` tasks, and `/live/stream`, the server-sent
 * events the page renders: a snapshot of recent tasks, then one event per change, pushed
 * from the task feed.
 */
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerContext } from '../http/context.js';
import { errors } from '../http/schemas.js';
import { openSse } from '../http/sse.js';

/** The task the page sends. */
export const LIVE_TASK = 'demo.process';

const asset = (name: string) => readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');

/** The live page's routes. */
export function liveRoutes(ctx: ServerContext, options: { dashboardUrl: string | null }): FastifyPluginAsyncTypebox {
  const page = asset('index.html');
  const script = asset('app.js');
  const style = asset('app.css');
  const icon = asset('icon.svg');
  const { process: processTask } = ctx.runtime.tasks.demo;
  let nextNum = 1;
  return async (app) => {
    const headers = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
    app.get('/', { schema: { hide: true } }, async (_req, reply) =>
      reply.headers({ ...headers, 'content-type': 'text/html; charset=utf-8' }).send(page));
    app.get('/live/app.js', { schema: { hide: true } }, async (_req, reply) => reply.headers({ ...headers, 'content-type': 'text/javascript; charset=utf-8' }).send(script));
    app.get('/live/app.css', { schema: { hide: true } }, async (_req, reply) => reply.headers({ ...headers, 'content-type': 'text/css; charset=utf-8' }).send(style));
    app.get('/live/icon.svg', { schema: { hide: true } }, async (_req, reply) => reply.headers({ ...headers, 'content-type': 'image/svg+xml' }).send(icon));

    app.post('/live/tasks', {
      schema: {
        tags: ['live'], summary: `Send one or more ${LIVE_TASK}(taskNum, seconds) tasks`,
        body: Type.Object({ count: Type.Integer({ minimum: 1, maximum: 10 }), seconds: Type.Number({ minimum: 1, maximum: 60 }) }, { additionalProperties: false }),
        response: { 202: Type.Object({ tasks: Type.Array(Type.Object({ taskId: Type.String(), taskNum: Type.Integer() })) }), ...errors(400, 413, 415, 503) },
      },
    }, async (request, reply) => {
      const { count, seconds } = request.body;
      const nums = Array.from({ length: count }, () => nextNum++);
      const results = await processTask.applyAsyncMany(nums.map((n) => [n, seconds] as [number, number]));
      request.log.info({ taskIds: results.map((r) => r.id) }, 'live tasks sent');
      return reply.status(202).send({ tasks: results.map((r, i) => ({ taskId: r.id, taskNum: nums[i] as number })) });
    });

    app.get('/live/stream', {
      schema: { tags: ['live'], summary: `Server-sent events: a snapshot of recent ${LIVE_TASK} tasks, then one \`task\` event per change`, produces: ['text/event-stream'] },
    }, async (request, reply) => {
      const stream = openSse(request, reply);
      ctx.streams.add(stream);
      stream.onClose(() => ctx.streams.delete(stream));
      stream.send('snapshot', { tasks: ctx.feed.recent(100, LIVE_TASK), dashboard: options.dashboardUrl });
      stream.onClose(ctx.feed.subscribe((u) => {
        if (u.name === LIVE_TASK) stream.send('task', u);
      }));
    });
  };
}
