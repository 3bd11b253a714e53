/**
 * @module todos/service
 * The todo service's rules: users and todos with cached reads, and a reminder per todo.
 *
 * Reminders: a todo with a deadline gets a `todos.remind` task with an ETA one day before
 * it (at once when that moment has passed, none once the deadline itself has). A new
 * deadline revokes the old reminder and schedules a new one; completing or deleting the todo
 * revokes it. The reminder's id is chosen and recorded in the transaction, and the task is
 * sent once it committed (so a reminder due at once never runs before its todo exists); the
 * task acts only if it is still the todo's current reminder, so a revoke that a worker
 * missed leaves no wrong notification.
 */
import { randomUUID } from 'node:crypto';
import type { App } from 'celeriac';
import type { Clock } from 'celeriac/spi';
import type { Logger } from 'pino';
import type { Database, Queryable } from '../db/database.js';
import { repo, type Notification, type Todo, type TodoChanges, type User } from './repo.js';
import { CACHE_TTL, cacheKeys, type TodoCache } from './todo-cache.js';

/** How long before its deadline a todo's reminder runs. */
export const REMINDER_LEAD_MS = 24 * 60 * 60 * 1000;

/** Task names the service sends. */
export const TODO_TASKS = Object.freeze({
  remind: 'todos.remind',
  statistics: 'todos.statistics',
  checkOverdue: 'todos.check_overdue',
  dailyCleanup: 'todos.daily_cleanup',
  export: 'todos.export',
  updateOne: 'todos.update_one',
  bulkReport: 'todos.bulk_report',
});

/** A page of results. */
export interface Page<T> {
  readonly items: T[];
  readonly page: number;
  readonly pageSize: number;
  readonly total: number;
}

/** What the service needs. */
export interface TodoServiceDeps {
  readonly db: Database;
  readonly cache: TodoCache;
  readonly celery: App;
  /** The domain clock: deadlines, overdue and cleanup are judged by it. */
  readonly clock: Clock;
  readonly log: Logger;
}

/** Thrown for a user or todo that does not exist (the HTTP layer answers 404). */
export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}

/** Thrown for a change that breaks a rule (the HTTP layer answers 409). */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** The todo service. */
export class TodoService {
  constructor(readonly deps: TodoServiceDeps) {}

  #now(): Date {
    return new Date(this.deps.clock.now());
  }

  async createUser(email: string, name: string): Promise<User> {
    try {
      return await repo.insertUser(this.deps.db, email, name, this.#now());
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ConflictError(`a user with email ${email} already exists`);
      throw err;
    }
  }

  async getUser(id: number): Promise<User> {
    const user = await repo.getUser(this.deps.db, id);
    if (user === null) throw new NotFoundError(`user ${id}`);
    return user;
  }

  async listUsers(page: number, pageSize: number): Promise<Page<User>> {
    const { items, total } = await repo.listUsers(this.deps.db, pageSize, (page - 1) * pageSize);
    return { items, page, pageSize, total };
  }

  /** A page of a user's todos, cached per page for 5 minutes. */
  async listTodos(userId: number, page: number, pageSize: number, completed?: boolean): Promise<Page<Todo> & { cached: boolean }> {
    await this.getUser(userId);
    const field = `page=${page}&size=${pageSize}&completed=${completed ?? 'any'}`;
    const { value, hit } = await this.deps.cache.through(cacheKeys.list(userId), field, CACHE_TTL.list, async () => {
      const r = await repo.listTodos(this.deps.db, userId, { limit: pageSize, offset: (page - 1) * pageSize, completed });
      return { items: r.items, page, pageSize, total: r.total };
    });
    return { ...value, cached: hit };
  }

  /** One todo of a user, cached for 5 minutes. */
  async getTodo(userId: number, todoId: number): Promise<Todo & { cached: boolean }> {
    const { value, hit } = await this.deps.cache.through(cacheKeys.item(todoId), null, CACHE_TTL.item, () => repo.getTodo(this.deps.db, todoId));
    if (value === null || value.userId !== userId) throw new NotFoundError(`todo ${todoId} of user ${userId}`);
    return { ...value, cached: hit };
  }

  async createTodo(userId: number, input: { title: string; description?: string; deadline?: string | null }): Promise<Todo> {
    await this.getUser(userId);
    let todo = await this.deps.db.transaction(async (tx) => {
      const created = await repo.insertTodo(tx, userId, { title: input.title, description: input.description ?? '', deadline: input.deadline ?? null }, this.#now());
      return this.#plan(tx, created);
    });
    todo = await this.#send(todo);
    await this.deps.cache.invalidate([userId], [todo.id]);
    return todo;
  }

  /** Changes a todo; a new deadline moves its reminder, completion revokes it. */
  async updateTodo(userId: number | null, todoId: number, changes: TodoChanges): Promise<Todo> {
    const { todo, moved, revoke } = await this.deps.db.transaction(async (tx) => {
      const before = await repo.getTodoForUpdate(tx, todoId);
      if (before === null || (userId !== null && before.userId !== userId)) throw new NotFoundError(userId === null ? `todo ${todoId}` : `todo ${todoId} of user ${userId}`);
      const after = (await repo.updateTodo(tx, todoId, changes, this.#now())) as Todo;
      if (after.deadline === before.deadline && after.completed === before.completed) return { todo: after, moved: false, revoke: null };
      return { todo: await this.#plan(tx, after), moved: true, revoke: before.reminderTaskId };
    });
    if (revoke !== null) await this.#revoke(revoke);
    const stored = moved ? await this.#send(todo) : todo;
    await this.deps.cache.invalidate([todo.userId], [todo.id]);
    return stored;
  }

  async deleteTodo(userId: number, todoId: number): Promise<void> {
    const deleted = await this.deps.db.transaction(async (tx) => {
      const before = await repo.getTodoForUpdate(tx, todoId);
      if (before === null || before.userId !== userId) throw new NotFoundError(`todo ${todoId} of user ${userId}`);
      return repo.deleteTodo(tx, todoId);
    });
    if (deleted?.reminderTaskId) await this.#revoke(deleted.reminderTaskId);
    await this.deps.cache.invalidate([userId], [todoId]);
  }

  async notifications(userId: number, limit: number): Promise<Notification[]> {
    await this.getUser(userId);
    return repo.listNotifications(this.deps.db, userId, limit);
  }

  /** The reminder task's body: notifies once, if `taskId` is still the todo's reminder. */
  async remind(todoId: number, taskId: string): Promise<{ sent: boolean; reason?: string }> {
    const todo = await repo.getTodo(this.deps.db, todoId);
    if (todo === null) return { sent: false, reason: 'todo deleted' };
    if (todo.completed) return { sent: false, reason: 'todo completed' };
    if (todo.reminderTaskId !== taskId) return { sent: false, reason: 'superseded by another reminder' };
    const sent = await repo.notify(
      this.deps.db,
      { userId: todo.userId, todoId, kind: 'reminder', message: `"${todo.title}" is due ${todo.deadline}`, dedupeKey: `reminder:${todoId}:${todo.deadline}` },
      this.#now(),
    );
    return sent ? { sent } : { sent, reason: 'already sent' };
  }

  /** Chooses and records the reminder `todo` needs (if any); returns the todo as stored. */
  async #plan(tx: Queryable, todo: Todo): Promise<Todo> {
    const deadline = todo.deadline === null ? NaN : Date.parse(todo.deadline);
    const now = this.deps.clock.now();
    if (todo.completed || !(deadline > now)) {
      if (todo.reminderTaskId !== null) await repo.setReminder(tx, todo.id, null, null);
      return { ...todo, reminderTaskId: null, reminderEta: null };
    }
    const due = deadline - REMINDER_LEAD_MS;
    const eta = due > now ? new Date(due).toISOString() : null;
    const taskId = randomUUID();
    await repo.setReminder(tx, todo.id, taskId, eta);
    return { ...todo, reminderTaskId: taskId, reminderEta: eta };
  }

  /** Sends the reminder recorded by {@link #plan}; when the broker refuses, forgets it (check_overdue still sees the todo). */
  async #send(todo: Todo): Promise<Todo> {
    if (todo.reminderTaskId === null) return todo;
    const { reminderTaskId: taskId, reminderEta: eta } = todo;
    try {
      await this.deps.celery.sendTask(TODO_TASKS.remind, [todo.id], {}, eta === null ? { taskId } : { taskId, eta });
      this.deps.log.info({ todoId: todo.id, taskId, eta }, 'reminder scheduled');
      return todo;
    } catch (err) {
      this.deps.log.error({ err, todoId: todo.id, taskId }, 'could not send the reminder; the todo has none');
      await repo.setReminder(this.deps.db, todo.id, null, null).catch(() => undefined);
      return { ...todo, reminderTaskId: null, reminderEta: null };
    }
  }

  async #revoke(taskId: string): Promise<void> {
    try {
      await this.deps.celery.asyncResult(taskId).revoke();
      this.deps.log.info({ taskId }, 'reminder revoked');
    } catch (err) {
      // The reminder checks it is still current before it acts, so a lost revoke is harmless.
      this.deps.log.warn({ err, taskId }, 'could not revoke reminder');
    }
  }
}
