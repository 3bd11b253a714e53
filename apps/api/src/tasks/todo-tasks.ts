/**
 * @module tasks/todo-tasks
 * The todo service's tasks: reminders, statistics, the beat jobs (`check_overdue` hourly,
 * `daily_cleanup` at 02:00), exports with progress, and the two halves of a bulk update (one
 * task per todo in a group, and the chord body that counts what they did).
 */
import type { App } from 'celeriac';
import { checkOverdue, computeStatistics, dailyCleanup, exportTodos, type ExportFormat } from '../todos/jobs.js';
import type { TodoChanges } from '../todos/repo.js';
import { NotFoundError, TODO_TASKS, type TodoService } from '../todos/service.js';

/** What one `todos.update_one` returns. */
export interface UpdateOneResult {
  readonly id: number;
  readonly updated: boolean;
  readonly reason?: string;
}

/** What the bulk update's chord body returns. */
export interface BulkReport {
  readonly requested: number;
  readonly updated: number;
  readonly missing: number[];
}

/** Registers the todo tasks. */
export function registerTodoTasks(app: App, deps: { service: TodoService; exportDir: string }) {
  const { service } = deps;
  const d = service.deps;
  // Late acks (the app default) redeliver a task whose worker died: each of these is safe to run twice.
  const remind = app.task(TODO_TASKS.remind, { bind: true, params: ['todoId'] }, (ctx, todoId: number) => service.remind(todoId, ctx.request.id));
  const statistics = app.task(TODO_TASKS.statistics, () => computeStatistics(d));
  const overdue = app.task(TODO_TASKS.checkOverdue, () => checkOverdue(d));
  const cleanup = app.task(TODO_TASKS.dailyCleanup, () => dailyCleanup(d));

  const exportTask = app.task(TODO_TASKS.export, { bind: true, params: ['format', 'userId'] }, (ctx, format: ExportFormat, userId: number | null = null) =>
    exportTodos(d, {
      exportDir: deps.exportDir,
      name: `${ctx.request.id}.${format}`,
      format,
      userId,
      progress: (done, total) => ctx.updateState('PROGRESS', { current: done, total }),
    }),
  );

  const updateOne = app.task(TODO_TASKS.updateOne, async (todoId: number, changes: TodoChanges): Promise<UpdateOneResult> => {
    try {
      await service.updateTodo(null, todoId, changes);
      return { id: todoId, updated: true };
    } catch (err) {
      if (err instanceof NotFoundError) return { id: todoId, updated: false, reason: 'not found' };
      throw err;
    }
  });

  const bulkReport = app.task(TODO_TASKS.bulkReport, (results: UpdateOneResult[]): BulkReport => ({
    requested: results.length,
    updated: results.filter((r) => r.updated).length,
    missing: results.filter((r) => !r.updated).map((r) => r.id),
  }));

  return { remind, statistics, overdue, cleanup, export: exportTask, updateOne, bulkReport };
}
