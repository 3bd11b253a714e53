/**
 * @module http/routes/tasks
 * The generic task endpoints: send a task by name (allow-listed), read its status, revoke
 * it, send a workflow, read a group, and follow one task's state changes as server-sent
 * events.
 */
import { GroupResult, type AsyncResult, type ApplyOptions, type Json, type JsonObject } from 'celeriac';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { checkAllowed } from '../allow-list.js';
import { HttpError } from '../errors.js';
import type { ServerContext } from '../context.js';
import { CallOptions, checkEta, errors, Kwargs, TaskIdParam, TaskName } from '../schemas.js';
import { openSse } from '../sse.js';
import { readStatus, statusFromMeta, TaskStatus, withEvents } from '../task-status.js';
import { TaskFollower } from '../task-follower.js';
import { buildWorkflow, Workflow, workflowKind } from '../workflow.js';
import { isFinal } from '../../live/task-feed.js';

const Sent = Type.Object({ taskId: Type.String(), name: Type.String(), status: Type.String({ description: 'URL of the status' }) });
const GroupStatus = Type.Object({
  groupId: Type.String(),
  total: Type.Integer(),
  completed: Type.Integer({ description: 'Members that succeeded' }),
  ready: Type.Boolean(),
  tasks: Type.Array(Type.Object({ taskId: Type.String(), state: Type.String() })),
});

/** The generic task routes. */
export function taskRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { celery } = ctx.runtime;
  return async (app) => {
    app.post('/tasks/:name', {
      schema: {
        tags: ['tasks'],
        summary: 'Send a task by name',
        description: 'Only names on the allow-list (TASK_ALLOW_LIST, default `demo.*`) of tasks this app registered are accepted: 403 off the list, 404 for a name no task has.',
        params: Type.Object({ name: TaskName }),
        body: Type.Object(
          {
            args: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100 })),
            kwargs: Type.Optional(Kwargs),
            options: Type.Optional(CallOptions),
          },
          { additionalProperties: false },
        ),
        response: { 202: Sent, ...errors(400, 403, 404, 413, 415, 503) },
      },
    }, async (request, reply) => {
      const { name } = request.params;
      checkAllowed(ctx.allowed, name, (n) => celery.lookup(n) !== undefined);
      const { args = [], kwargs = {}, options = {} } = request.body;
      checkEta(options);
      const result = await celery.sendTask(name, args as Json[], kwargs as JsonObject, options as ApplyOptions);
      request.log.info({ taskId: result.id, taskName: name }, 'task sent');
      return reply.status(202).send({ taskId: result.id, name, status: `/tasks/${result.id}` });
    });

    app.get('/tasks/:taskId', {
      schema: {
        tags: ['tasks'],
        summary: 'Status, result, progress or error of a task',
        description: 'PENDING means nothing is stored yet: a task waiting in a queue and an unknown id look the same, as in Celery.',
        params: TaskIdParam,
        response: { 200: Type.Ref(TaskStatus), ...errors(400, 503) },
      },
    }, async (request) => withEvents(await readStatus(celery, request.params.taskId), ctx.feed.get(request.params.taskId)));

    app.post('/tasks/:taskId/revoke', {
      schema: {
        tags: ['tasks'],
        summary: 'Revoke a task; with terminate, stop it if it is running',
        params: TaskIdParam,
        body: Type.Optional(Type.Object({ terminate: Type.Optional(Type.Boolean()), signal: Type.Optional(Type.String({ pattern: '^(SIG)?[A-Z0-9]{1,10}$' })) }, { additionalProperties: false })),
        response: { 202: Type.Object({ taskId: Type.String(), revoked: Type.Boolean(), terminate: Type.Boolean() }), ...errors(400, 503) },
      },
      // No body at all is a plain revoke: the schema's object was checked against the missing
      // body, and `curl -X POST .../revoke` was refused with "body must be object".
      preValidation: async (request) => {
        request.body ??= {};
      },
    }, async (request, reply) => {
      const { terminate = false, signal } = request.body ?? {};
      await celery.asyncResult(request.params.taskId).revoke(signal === undefined ? { terminate } : { terminate, signal });
      request.log.info({ taskId: request.params.taskId, terminate }, 'task revoked');
      return reply.status(202).send({ taskId: request.params.taskId, revoked: true, terminate });
    });

    app.get('/tasks/:taskId/events', {
      schema: {
        tags: ['tasks'],
        summary: 'Server-sent events: one `task` event per state change of this task, until it is ready',
        params: TaskIdParam,
        produces: ['text/event-stream'],
      },
    }, async (request, reply) => {
      const { taskId } = request.params;
      const stream = openSse(request, reply);
      ctx.streams.add(stream);
      stream.onClose(() => ctx.streams.delete(stream));
      const follower = new TaskFollower((view) => stream.send('task', view), () => stream.close());
      stream.onClose(ctx.feed.subscribe((u) => {
        if (u.id === taskId) follower.offer(u, true);
      }));
      // The stored meta too: a backend may be ahead of the events, or events may be off.
      const unsubscribe = await celery.backend.subscribe(taskId, (meta) => follower.offer(statusFromMeta(taskId, meta), false)).catch(() => undefined);
      if (unsubscribe !== undefined) stream.onClose(() => void unsubscribe().catch(() => undefined));
      // What is known already: the stored record, then what this process's events said.
      follower.offer(await readStatus(celery, taskId).catch(() => ({ taskId, state: 'PENDING', ready: false })), true);
      const known = ctx.feed.get(taskId);
      if (known !== undefined) follower.offer(known, true);
    });

    app.post('/workflows', {
      schema: {
        tags: ['tasks'],
        summary: 'Send a chain, group or chord described as JSON',
        body: Type.Ref(Workflow),
        response: { 202: Type.Object({ id: Type.String(), kind: Type.String(), tasks: Type.Optional(Type.Array(Type.String())), status: Type.String() }), ...errors(400, 403, 404, 413, 503) },
      },
    }, async (request, reply) => {
      const body = request.body as Workflow;
      const canvas = buildWorkflow(celery, body, ctx.allowed) as unknown as { applyAsync(): Promise<AsyncResult | GroupResult> };
      const kind = workflowKind(body);
      const applied = await canvas.applyAsync();
      if (applied instanceof GroupResult) {
        // Saved, so GET /groups/{id} can list its members from any API process.
        await applied.save();
        request.log.info({ groupId: applied.id, kind }, 'workflow sent');
        return reply.status(202).send({ id: applied.id, kind, tasks: applied.ids, status: `/groups/${applied.id}` });
      }
      request.log.info({ taskId: applied.id, kind }, 'workflow sent');
      return reply.status(202).send({ id: applied.id, kind, status: `/tasks/${applied.id}` });
    });

    app.get('/groups/:groupId', {
      schema: {
        tags: ['tasks'],
        summary: 'Members of a group sent with POST /workflows, and how many succeeded',
        params: Type.Object({ groupId: TaskIdParam.properties.taskId }),
        response: { 200: GroupStatus, ...errors(400, 404, 503) },
      },
    }, async (request) => groupStatus(ctx, request.params.groupId));
  };
}

/** The members of a saved group and their states. */
export async function groupStatus(ctx: ServerContext, groupId: string) {
  const group = await GroupResult.restore(ctx.runtime.celery, groupId);
  if (group === null) throw new HttpError(404, 'GROUP_NOT_FOUND', `group ${groupId} not found (or expired)`);
  const states = await Promise.all(group.results.map(async (r) => ({ taskId: r.id, state: await r.state() })));
  const completed = states.filter((s) => s.state === 'SUCCESS').length;
  return { groupId, total: states.length, completed, ready: states.every((s) => isFinal(s.state)), tasks: states };
}
