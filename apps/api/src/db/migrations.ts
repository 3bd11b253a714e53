/**
 * @module db/migrations
 * The schema, as an ordered list of migrations applied at start. Each runs once, in one
 * transaction with its record in `schema_migrations`; an advisory lock makes processes that
 * start together (API and workers in docker compose) apply them one at a time.
 */
import type { Database } from './database.js';

/** One schema change: statements run in order, one per entry. */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/** Every migration, oldest first. Append; never edit one that has shipped. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    id: 1,
    name: 'users, todos and notifications',
    statements: [
      `CREATE TABLE users (
         id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         email text NOT NULL UNIQUE,
         name text NOT NULL,
         created_at timestamptz NOT NULL
       )`,
      `CREATE TABLE todos (
         id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         title text NOT NULL,
         description text NOT NULL DEFAULT '',
         deadline timestamptz,
         completed boolean NOT NULL DEFAULT false,
         completed_at timestamptz,
         overdue_at timestamptz,
         reminder_task_id text,
         reminder_eta timestamptz,
         created_at timestamptz NOT NULL,
         updated_at timestamptz NOT NULL
       )`,
      'CREATE INDEX todos_user_id_idx ON todos (user_id, id)',
      'CREATE INDEX todos_open_deadline_idx ON todos (deadline) WHERE NOT completed',
      // dedupe_key makes the tasks that write here safe to run twice (late acks redeliver).
      `CREATE TABLE notifications (
         id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         user_id integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
         todo_id integer REFERENCES todos(id) ON DELETE SET NULL,
         kind text NOT NULL CHECK (kind IN ('reminder', 'overdue')),
         message text NOT NULL,
         dedupe_key text NOT NULL UNIQUE,
         created_at timestamptz NOT NULL
       )`,
      'CREATE INDEX notifications_user_id_idx ON notifications (user_id, id)',
    ],
  },
]);

// Any fixed number: the key of the advisory lock migrations hold.
const MIGRATION_LOCK = 7_275_001;

/** Applies the migrations not applied yet; returns the ids it applied. */
export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const { rows } = await tx.query<{ id: number }>('SELECT id FROM schema_migrations');
    const done = new Set(rows.map((r) => r.id));
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      for (const sql of m.statements) await tx.query(sql);
      await tx.query('INSERT INTO schema_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
      applied.push(m.id);
    }
    return applied;
  });
}
