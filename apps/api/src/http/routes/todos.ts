/**
 * @module http/routes/todos
 * The todo service over HTTP: users, their todos (CRUD with pagination, cached reads),
 * notifications, statistics (computed by a task, cached for an hour), exports (a task with
 * progress, then a download) and bulk updates (a group of tasks with a chord that counts).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chord, group, GroupResult } from 'celeriac';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../errors.js';
import type { ServerContext } from '../context.js';
import { errors, PageOf, PageQuery, RowId, TaskIdParam } from '../schemas.js';
import { readStatus, TaskStatus } from '../task-status.js';
import { groupStatus } from './tasks.js';
import type { TodoStatistics } from '../../todos/jobs.js';
import { CACHE_TTL, cacheKeys } from '../../todos/todo-cache.js';

const Iso = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const User = Type.Object({ id: Type.Integer(), email: Type.String(), name: Type.String(), createdAt: Iso }, { $id: 'User' });
const Todo = Type.Object(
  {
    id: Type.Integer(), userId: Type.Integer(), title: Type.String(), description: Type.String(), deadline: Nullable(Iso),
    completed: Type.Boolean(), completedAt: Nullable(Iso), overdueAt: Nullable(Iso),
    reminderTaskId: Nullable(Type.String()), reminderEta: Nullable(Iso), createdAt: Iso, updatedAt: Iso,
  },
  { $id: 'Todo' },
);
/** Text Postgres can store: its `text` holds no NUL character (one was a 500 from the insert). */
const NO_NUL = '^[^\\u0000]*$';
const Title = Type.String({ minLength: 1, maxLength: 200, pattern: NO_NUL });
const Description = Type.String({ maxLength: 5000, pattern: NO_NUL });
const TodoInput = Type.Object({ title: Title, description: Type.Optional(Description), deadline: Type.Optional(Nullable(Iso)) }, { additionalProperties: false });
const TodoChanges = Type.Object(
  { title: Type.Optional(Title), description: Type.Optional(Description), deadline: Type.Optional(Nullable(Iso)), completed: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const UserParams = Type.Object({ userId: RowId });
const TodoParams = Type.Object({ userId: RowId, todoId: RowId });
const Statistics = Type.Object({
  users: Type.Integer(), todos: Type.Integer(), completed: Type.Integer(), open: Type.Integer(), overdue: Type.Integer(),
  withDeadline: Type.Integer(), completionRate: Type.Number(), computedAt: Iso, cached: Type.Boolean(),
});
const Notification = Type.Object({ id: Type.Integer(), userId: Type.Integer(), todoId: Nullable(Type.Integer()), kind: Type.String(), message: Type.String(), createdAt: Iso });

/** Schemas the todo routes refer to by id (the server registers them). */
export const TODO_SCHEMAS = [User, Todo];

/** Seconds a statistics request waits for its task. */
const STATS_WAIT_MS = 10_000;

/** The todo routes. */
export function todoRoutes(ctx: ServerContext): FastifyPluginAsyncTypebox {
  const { service, celery, settings, cache } = ctx.runtime;
  const { todos: tasks } = ctx.runtime.tasks;
  return async (app) => {
    app.post('/users', {
      schema: {
        tags: ['users'], summary: 'Create a user',
        body: Type.Object({ email: Type.String({ format: 'email', maxLength: 254 }), name: Type.String({ minLength: 1, maxLength: 100, pattern: NO_NUL }) }, { additionalProperties: false }),
        response: { 201: Type.Ref(User), ...errors(400, 409, 413, 415) },
      },
    }, async (request, reply) => reply.status(201).send(await service.createUser(request.body.email, request.body.name)));

    app.get('/users', {
      schema: { tags: ['users'], summary: 'List users', querystring: PageQuery, response: { 200: PageOf(Type.Ref(User)), ...errors(400) } },
    }, async (request) => service.listUsers(request.query.page, request.query.pageSize));

    app.get('/users/:userId', {
      schema: { tags: ['users'], summary: 'One user', params: UserParams, response: { 200: Type.Ref(User), ...errors(400, 404) } },
    }, async (request) => service.getUser(request.params.userId));

    app.get('/users/:userId/todos', {
      schema: {
        tags: ['todos'], summary: 'A page of a user\'s todos (cached 5 minutes)',
        params: UserParams,
        querystring: Type.Composite([PageQuery, Type.Object({ completed: Type.Optional(Type.Boolean()) })], { additionalProperties: false }),
        response: { 200: Type.Composite([PageOf(Type.Ref(Todo)), Type.Object({ cached: Type.Boolean() })]), ...errors(400, 404) },
      },
    }, async (request) => service.listTodos(request.params.userId, request.query.page, request.query.pageSize, request.query.completed));

    app.post('/users/:userId/todos', {
      schema: {
        tags: ['todos'], summary: 'Create a todo; a deadline schedules a reminder one day before it',
        params: UserParams, body: TodoInput, response: { 201: Type.Ref(Todo), ...errors(400, 404, 413, 415) },
      },
    }, async (request, reply) => reply.status(201).send(await service.createTodo(request.params.userId, request.body)));

    app.get('/users/:userId/todos/:todoId', {
      schema: {
        tags: ['todos'], summary: 'One todo (cached 5 minutes)', params: TodoParams,
        response: { 200: Type.Composite([Type.Omit(Todo, []), Type.Object({ cached: Type.Boolean() })]), ...errors(400, 404) },
      },
    }, async (request) => service.getTodo(request.params.userId, request.params.todoId));

    app.patch('/users/:userId/todos/:todoId', {
      schema: {
        tags: ['todos'], summary: 'Change a todo; a new deadline moves its reminder, completing it revokes the reminder',
        params: TodoParams, body: TodoChanges, response: { 200: Type.Ref(Todo), ...errors(400, 404, 413, 415) },
      },
    }, async (request) => service.updateTodo(request.params.userId, request.params.todoId, request.body));

    app.delete('/users/:userId/todos/:todoId', {
      schema: { tags: ['todos'], summary: 'Delete a todo (and revoke its reminder)', params: TodoParams, response: { 204: Type.Null(), ...errors(400, 404) } },
    }, async (request, reply) => {
      await service.deleteTodo(request.params.userId, request.params.todoId);
      return reply.status(204).send(null);
    });

    app.get('/users/:userId/notifications', {
      schema: {
        tags: ['todos'], summary: 'Reminders and overdue notices the tasks left for a user, latest first',
        params: UserParams, querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) }),
        response: { 200: Type.Array(Notification), ...errors(400, 404) },
      },
    }, async (request) => service.notifications(request.params.userId, request.query.limit));

    app.get('/todos/statistics', {
      schema: {
        tags: ['todos'], summary: 'Statistics over all todos: computed by the todos.statistics task, cached 1 hour',
        response: { 200: Statistics, ...errors(503, 504) },
      },
    }, async (request) => {
      const todoCache = service.deps.cache;
      const { value, hit } = await todoCache.through<TodoStatistics>(cacheKeys.stats, null, CACHE_TTL.stats, async () => {
        const result = await tasks.statistics.delay();
        request.log.info({ taskId: result.id }, 'statistics task sent');
        return result.get({ timeoutMs: STATS_WAIT_MS });
      });
      return { ...value, cached: hit };
    });

    app.post('/todos/export', {
      schema: {
        tags: ['todos'], summary: 'Start an export of the todos (all, or one user\'s) to a file',
        querystring: Type.Object({ format: Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }), userId: Type.Optional(RowId) }, { additionalProperties: false }),
        response: { 202: Type.Object({ taskId: Type.String(), status: Type.String() }), ...errors(400, 404, 503) },
      },
    }, async (request, reply) => {
      const { format, userId } = request.query;
      if (userId !== undefined) await service.getUser(userId);
      const result = await tasks.export.delay(format, userId ?? null);
      request.log.info({ taskId: result.id, format }, 'export started');
      return reply.status(202).send({ taskId: result.id, status: `/todos/export/${result.id}` });
    });

    app.get('/todos/export/:taskId', {
      schema: {
        tags: ['todos'], summary: 'Status and progress of an export; when done, the link to download it',
        params: TaskIdParam,
        response: { 200: Type.Composite([Type.Omit(TaskStatus, []), Type.Object({ download: Type.Optional(Type.String()) })]), ...errors(400, 503) },
      },
    }, async (request) => {
      const status = await readStatus(celery, request.params.taskId);
      return status.state === 'SUCCESS' ? { ...status, download: `/todos/export/${request.params.taskId}/file` } : status;
    });

    app.get('/todos/export/:taskId/file', {
      schema: { tags: ['todos'], summary: 'Download a finished export', params: TaskIdParam, produces: ['application/json', 'text/csv'], response: errors(400, 404) },
    }, async (request, reply) => {
      const { taskId } = request.params;
      for (const format of ['json', 'csv'] as const) {
        // The name comes from a validated task id: no path can escape the export directory.
        const path = join(settings.exportDir, `${taskId}.${format}`);
        const info = await stat(path).catch(() => null);
        if (info === null) continue;
        return reply
          .header('content-type', format === 'json' ? 'application/json' : 'text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="todos-${taskId}.${format}"`)
          .header('content-length', info.size)
          .send(createReadStream(path));
      }
      throw new HttpError(404, 'EXPORT_NOT_FOUND', `no finished export ${taskId}`);
    });

    app.post('/todos/bulk-update', {
      schema: {
        tags: ['todos'], summary: 'Change many todos: one task per todo in a group, then a chord body that counts the updates',
        body: Type.Object({ ids: Type.Array(RowId, { minItems: 1, maxItems: 500, uniqueItems: true }), update: TodoChanges }, { additionalProperties: false }),
        response: { 202: Type.Object({ groupId: Type.String(), total: Type.Integer(), status: Type.String() }), ...errors(400, 413, 415, 503) },
      },
    }, async (request, reply) => {
      const { ids, update } = request.body;
      const groupId = randomUUID();
      const members = ids.map((id) => tasks.updateOne.s(id, update).freeze());
      // The report (chord body) runs under the group's id: one id finds both the members
      // (celery-taskset-meta-<id>) and the count (celery-task-meta-<id>).
      await chord(group(members).set({ taskId: groupId }), tasks.bulkReport.s()).applyAsync([], { taskId: groupId });
      await new GroupResult(groupId, members.map((m) => celery.asyncResult(m.id as string)), celery).save();
      request.log.info({ groupId, count: ids.length }, 'bulk update sent');
      return reply.status(202).send({ groupId, total: ids.length, status: `/todos/bulk-update/${groupId}` });
    });

    app.get('/todos/bulk-update/:groupId', {
      schema: {
        tags: ['todos'], summary: 'Progress of a bulk update, and its report once the chord ran',
        params: Type.Object({ groupId: TaskIdParam.properties.taskId }),
        response: {
          200: Type.Object({
            groupId: Type.String(), total: Type.Integer(), completed: Type.Integer(), ready: Type.Boolean(),
            report: Type.Union([Type.Object({ requested: Type.Integer(), updated: Type.Integer(), missing: Type.Array(Type.Integer()) }), Type.Null()]),
          }),
          ...errors(400, 404, 503),
        },
      },
    }, async (request) => {
      const { groupId } = request.params;
      const { total, completed } = await groupStatus(ctx, groupId);
      const report = await readStatus(celery, groupId);
      return { groupId, total, completed, ready: report.state === 'SUCCESS', report: report.state === 'SUCCESS' ? (report.result as never) : null };
    });

    app.get('/cache/status', {
      schema: {
        tags: ['ops'], summary: 'Cache reachability, hit and miss counts (this process) and keys with their TTLs',
        response: {
          200: Type.Object({
            backend: Type.String(), reachable: Type.Boolean(), hits: Type.Integer(), misses: Type.Integer(), hitRate: Type.Number(),
            ttlSeconds: Type.Object({ list: Type.Integer(), item: Type.Integer(), stats: Type.Integer() }),
            keys: Type.Array(Type.Object({ key: Type.String(), ttlSec: Type.Integer() })),
          }),
        },
      },
    }, async () => {
      const reachable = await cache.ping().then(() => true, () => false);
      const keys = reachable ? await cache.keys(100).catch(() => []) : [];
      const { hits, misses } = cache.stats();
      return { backend: cache.kind, reachable, hits, misses, hitRate: hits + misses === 0 ? 0 : hits / (hits + misses), ttlSeconds: { ...CACHE_TTL }, keys };
    });
  };
}
