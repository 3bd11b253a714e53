/**
 * @module todos/repo
 * The SQL of the todo service, and nothing else: rows in, plain objects out. Times are
 * passed in (from the service's clock), never read from the database's `now()`, so tests
 * drive them with a fake clock.
 */
import type { Queryable } from '../db/database.js';

/** A user. Times are ISO strings. */
export interface User {
  readonly id: number;
  readonly email: string;
  readonly name: string;
  readonly createdAt: string;
}

/** A todo. Times are ISO strings or null. */
export interface Todo {
  readonly id: number;
  readonly userId: number;
  readonly title: string;
  readonly description: string;
  readonly deadline: string | null;
  readonly completed: boolean;
  readonly completedAt: string | null;
  /** When `check_overdue` found it past its deadline. */
  readonly overdueAt: string | null;
  /** The pending reminder task, if any. */
  readonly reminderTaskId: string | null;
  readonly reminderEta: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A message the tasks left for a user. */
export interface Notification {
  readonly id: number;
  readonly userId: number;
  readonly todoId: number | null;
  readonly kind: 'reminder' | 'overdue';
  readonly message: string;
  readonly createdAt: string;
}

/** Fields a todo change may set. */
export interface TodoChanges {
  title?: string;
  description?: string;
  deadline?: string | null;
  completed?: boolean;
}

/** Counts over all todos. */
export interface TodoCounts {
  readonly users: number;
  readonly todos: number;
  readonly completed: number;
  readonly open: number;
  readonly overdue: number;
  readonly withDeadline: number;
}

type Row = Record<string, unknown>;

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string | Date).toISOString());

function toUser(r: Row): User {
  return { id: Number(r['id']), email: String(r['email']), name: String(r['name']), createdAt: iso(r['created_at']) as string };
}

function toTodo(r: Row): Todo {
  return {
    id: Number(r['id']),
    userId: Number(r['user_id']),
    title: String(r['title']),
    description: String(r['description']),
    deadline: iso(r['deadline']),
    completed: Boolean(r['completed']),
    completedAt: iso(r['completed_at']),
    overdueAt: iso(r['overdue_at']),
    reminderTaskId: (r['reminder_task_id'] as string | null) ?? null,
    reminderEta: iso(r['reminder_eta']),
    createdAt: iso(r['created_at']) as string,
    updatedAt: iso(r['updated_at']) as string,
  };
}

function toNotification(r: Row): Notification {
  return {
    id: Number(r['id']),
    userId: Number(r['user_id']),
    todoId: r['todo_id'] === null ? null : Number(r['todo_id']),
    kind: r['kind'] as Notification['kind'],
    message: String(r['message']),
    createdAt: iso(r['created_at']) as string,
  };
}

/** The queries. Every method takes the connection or transaction to run on. */
export const repo = {
  async insertUser(db: Queryable, email: string, name: string, now: Date): Promise<User> {
    const { rows } = await db.query('INSERT INTO users (email, name, created_at) VALUES ($1, $2, $3) RETURNING *', [email, name, now]);
    return toUser(rows[0] as Row);
  },

  async getUser(db: Queryable, id: number): Promise<User | null> {
    const { rows } = await db.query('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0] === undefined ? null : toUser(rows[0]);
  },

  async listUsers(db: Queryable, limit: number, offset: number): Promise<{ items: User[]; total: number }> {
    const { rows } = await db.query('SELECT * FROM users ORDER BY id LIMIT $1 OFFSET $2', [limit, offset]);
    const { rows: count } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
    return { items: rows.map(toUser), total: count[0]?.n ?? 0 };
  },

  async insertTodo(db: Queryable, userId: number, t: { title: string; description: string; deadline: string | null }, now: Date): Promise<Todo> {
    const { rows } = await db.query(
      'INSERT INTO todos (user_id, title, description, deadline, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING *',
      [userId, t.title, t.description, t.deadline, now],
    );
    return toTodo(rows[0] as Row);
  },

  async getTodo(db: Queryable, id: number): Promise<Todo | null> {
    const { rows } = await db.query('SELECT * FROM todos WHERE id = $1', [id]);
    return rows[0] === undefined ? null : toTodo(rows[0]);
  },

  /** The todo, locked until the transaction ends (so two changes cannot race its reminder). */
  async getTodoForUpdate(db: Queryable, id: number): Promise<Todo | null> {
    const { rows } = await db.query('SELECT * FROM todos WHERE id = $1 FOR UPDATE', [id]);
    return rows[0] === undefined ? null : toTodo(rows[0]);
  },

  async listTodos(db: Queryable, userId: number, q: { limit: number; offset: number; completed?: boolean }): Promise<{ items: Todo[]; total: number }> {
    const filter = q.completed === undefined ? '' : ' AND completed = $2';
    const params: unknown[] = q.completed === undefined ? [userId] : [userId, q.completed];
    const n = params.length;
    const { rows } = await db.query(`SELECT * FROM todos WHERE user_id = $1${filter} ORDER BY id LIMIT $${n + 1} OFFSET $${n + 2}`, [...params, q.limit, q.offset]);
    const { rows: count } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM todos WHERE user_id = $1${filter}`, params);
    return { items: rows.map(toTodo), total: count[0]?.n ?? 0 };
  },

  async updateTodo(db: Queryable, id: number, c: TodoChanges, now: Date): Promise<Todo | null> {
    const sets: string[] = [];
    const params: unknown[] = [id, now];
    const put = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (c.title !== undefined) put('title', c.title);
    if (c.description !== undefined) put('description', c.description);
    if (c.deadline !== undefined) {
      put('deadline', c.deadline);
      // A new deadline is judged afresh by check_overdue.
      sets.push('overdue_at = NULL');
    }
    if (c.completed !== undefined) {
      put('completed', c.completed);
      sets.push(c.completed ? 'completed_at = COALESCE(completed_at, $2)' : 'completed_at = NULL');
    }
    const { rows } = await db.query(`UPDATE todos SET ${[...sets, 'updated_at = $2'].join(', ')} WHERE id = $1 RETURNING *`, params);
    return rows[0] === undefined ? null : toTodo(rows[0]);
  },

  async setReminder(db: Queryable, id: number, taskId: string | null, eta: string | null): Promise<void> {
    await db.query('UPDATE todos SET reminder_task_id = $2, reminder_eta = $3 WHERE id = $1', [id, taskId, eta]);
  },

  async deleteTodo(db: Queryable, id: number): Promise<Todo | null> {
    const { rows } = await db.query('DELETE FROM todos WHERE id = $1 RETURNING *', [id]);
    return rows[0] === undefined ? null : toTodo(rows[0]);
  },

  async counts(db: Queryable, now: Date): Promise<TodoCounts> {
    const { rows } = await db.query<Record<keyof TodoCounts, number>>(
      `SELECT (SELECT count(*)::int FROM users) AS users,
              count(*)::int AS todos,
              count(*) FILTER (WHERE completed)::int AS completed,
              count(*) FILTER (WHERE NOT completed)::int AS open,
              count(*) FILTER (WHERE NOT completed AND deadline < $1)::int AS overdue,
              count(*) FILTER (WHERE deadline IS NOT NULL)::int AS "withDeadline"
         FROM todos`,
      [now],
    );
    return rows[0] as TodoCounts;
  },

  /** Marks open todos past their deadline as overdue (once per deadline); returns them. */
  async markOverdue(db: Queryable, now: Date): Promise<Todo[]> {
    const { rows } = await db.query('UPDATE todos SET overdue_at = $1 WHERE NOT completed AND deadline < $1 AND overdue_at IS NULL RETURNING *', [now]);
    return rows.map(toTodo);
  },

  /** Deletes todos completed before `cutoff`; returns them. */
  async deleteCompletedBefore(db: Queryable, cutoff: Date): Promise<Todo[]> {
    const { rows } = await db.query('DELETE FROM todos WHERE completed AND completed_at < $1 RETURNING *', [cutoff]);
    return rows.map(toTodo);
  },

  async deleteNotificationsBefore(db: Queryable, cutoff: Date): Promise<number> {
    return (await db.query('DELETE FROM notifications WHERE created_at < $1', [cutoff])).rowCount;
  },

  /** Records a notification once per `dedupeKey`; returns false when it already existed. */
  async notify(db: Queryable, n: { userId: number; todoId: number; kind: Notification['kind']; message: string; dedupeKey: string }, now: Date): Promise<boolean> {
    const { rowCount } = await db.query(
      'INSERT INTO notifications (user_id, todo_id, kind, message, dedupe_key, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING',
      [n.userId, n.todoId, n.kind, n.message, n.dedupeKey, now],
    );
    return rowCount > 0;
  },

  async listNotifications(db: Queryable, userId: number, limit: number): Promise<Notification[]> {
    const { rows } = await db.query('SELECT * FROM notifications WHERE user_id = $1 ORDER BY id DESC LIMIT $2', [userId, limit]);
    return rows.map(toNotification);
  },

  /** A page of todos for export, by id order (keyset: stable while rows change). */
  async exportPage(db: Queryable, userId: number | null, afterId: number, limit: number): Promise<Todo[]> {
    const { rows } = await db.query(
      'SELECT * FROM todos WHERE id > $1 AND ($2::int IS NULL OR user_id = $2) ORDER BY id LIMIT $3',
      [afterId, userId, limit],
    );
    return rows.map(toTodo);
  },

  async countTodos(db: Queryable, userId: number | null): Promise<number> {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM todos WHERE ($1::int IS NULL OR user_id = $1)', [userId]);
    return rows[0]?.n ?? 0;
  },
};
