/**
 * @module todos/jobs
 * The work the todo tasks do, apart from the task plumbing: statistics, the hourly overdue
 * check, the nightly cleanup and the export. Each takes its time from the injected clock,
 * so tests move time instead of waiting for it.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TodoServiceDeps } from './service.js';
import { repo, type Todo, type TodoCounts } from './repo.js';
import { CACHE_TTL, cacheKeys } from './todo-cache.js';

/** Completed todos and notifications older than this are removed by `daily_cleanup`. */
export const RETENTION_DAYS = 30;

/** What `GET /todos/statistics` returns. */
export interface TodoStatistics extends TodoCounts {
  /** Completed / all, 0 when there are none. */
  readonly completionRate: number;
  readonly computedAt: string;
}

/** Computes the statistics and caches them for an hour. */
export async function computeStatistics(deps: TodoServiceDeps): Promise<TodoStatistics> {
  const now = new Date(deps.clock.now());
  const counts = await repo.counts(deps.db, now);
  const stats: TodoStatistics = {
    ...counts,
    completionRate: counts.todos === 0 ? 0 : Math.round((counts.completed / counts.todos) * 1000) / 1000,
    computedAt: now.toISOString(),
  };
  await deps.cache.write(cacheKeys.stats, null, stats, CACHE_TTL.stats);
  return stats;
}

/** Marks open todos past their deadline as overdue and notifies their owners (once per deadline). */
export async function checkOverdue(deps: TodoServiceDeps): Promise<{ overdue: number; notified: number }> {
  const now = new Date(deps.clock.now());
  const { todos, notified } = await deps.db.transaction(async (tx) => {
    const found = await repo.markOverdue(tx, now);
    let sent = 0;
    for (const t of found) {
      const message = `"${t.title}" is overdue (deadline ${t.deadline})`;
      if (await repo.notify(tx, { userId: t.userId, todoId: t.id, kind: 'overdue', message, dedupeKey: `overdue:${t.id}:${t.deadline}` }, now)) sent += 1;
    }
    return { todos: found, notified: sent };
  });
  if (todos.length > 0) await deps.cache.invalidate(todos.map((t) => t.userId), todos.map((t) => t.id));
  deps.log.info({ overdue: todos.length, notified }, 'overdue check done');
  return { overdue: todos.length, notified };
}

/** Deletes todos completed, and notifications written, more than {@link RETENTION_DAYS} ago. */
export async function dailyCleanup(deps: TodoServiceDeps): Promise<{ todosDeleted: number; notificationsDeleted: number }> {
  const cutoff = new Date(deps.clock.now() - RETENTION_DAYS * 86_400_000);
  const { todos, notes } = await deps.db.transaction(async (tx) => ({
    todos: await repo.deleteCompletedBefore(tx, cutoff),
    notes: await repo.deleteNotificationsBefore(tx, cutoff),
  }));
  if (todos.length > 0) await deps.cache.invalidate(todos.map((t) => t.userId), todos.map((t) => t.id));
  deps.log.info({ todosDeleted: todos.length, notificationsDeleted: notes, cutoff: cutoff.toISOString() }, 'daily cleanup done');
  return { todosDeleted: todos.length, notificationsDeleted: notes };
}

/** Export formats. */
export type ExportFormat = 'json' | 'csv';

/** What an export task returns. */
export interface ExportResult {
  readonly file: string;
  readonly format: ExportFormat;
  readonly count: number;
  readonly bytes: number;
}

const EXPORT_PAGE = 100;
const CSV_COLUMNS = ['id', 'userId', 'title', 'description', 'deadline', 'completed', 'completedAt', 'createdAt', 'updatedAt'] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  // Quote what needs it, and defuse formulas a spreadsheet would run (=, +, -, @ first).
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function render(todos: readonly Todo[], format: ExportFormat): string {
  if (format === 'json') return `${JSON.stringify(todos.map((t) => Object.fromEntries(CSV_COLUMNS.map((c) => [c, t[c]]))), null, 2)}\n`;
  return `${[CSV_COLUMNS.join(','), ...todos.map((t) => CSV_COLUMNS.map((c) => csvCell(t[c])).join(','))].join('\n')}\n`;
}

/**
 * Writes the todos (of one user, or all) to `<exportDir>/<name>` page by page, reporting
 * `{ done, total }` after each page. The file appears whole or not at all (written aside,
 * then renamed).
 */
export async function exportTodos(
  deps: TodoServiceDeps,
  options: { exportDir: string; name: string; format: ExportFormat; userId: number | null; progress: (done: number, total: number) => Promise<void> },
): Promise<ExportResult> {
  const total = await repo.countTodos(deps.db, options.userId);
  const todos: Todo[] = [];
  let after = 0;
  await options.progress(0, total);
  for (;;) {
    const page = await repo.exportPage(deps.db, options.userId, after, EXPORT_PAGE);
    if (page.length === 0) break;
    todos.push(...page);
    after = (page.at(-1) as Todo).id;
    await options.progress(todos.length, Math.max(total, todos.length));
  }
  const text = render(todos, options.format);
  await mkdir(options.exportDir, { recursive: true });
  const path = join(options.exportDir, options.name);
  await writeFile(`${path}.partial`, text);
  await rename(`${path}.partial`, path);
  return { file: options.name, format: options.format, count: todos.length, bytes: Buffer.byteLength(text) };
}
