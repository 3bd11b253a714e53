/**
 * @module store/workflow-sql
 * A task's whole workflow, rebuilt from the ids the events and results carry. Celery links
 * the tasks of a canvas in three ways, and none of them alone reaches every member:
 * - `root_id`: every task a chain or a task's children started shares its first task's id;
 * - `parent_id`: the task that sent it (a chain's previous step, a chord's last header part);
 * - `group_id`: the members of a group or a chord's header, which are each their own root
 *   when a client sent them.
 * So a chord's body (root and parent: its last header part) reaches the other header parts
 * only through that part's group. The workflow is the closure: tasks sharing an id with a
 * task already found, round after round, until a round finds nothing new (nested canvases
 * take a round per level) or the limit is reached.
 */
import type { TaskRow, Workflow } from './history-store.js';
import { taskColumns, toTaskRow } from './read-sql.js';
import type { SqlRunner } from './sql-driver.js';

/** Rounds at most: a canvas nested deeper than this is cut (and said to be). */
const MAX_ROUNDS = 32;

/** Most tasks a workflow read returns. */
export const MAX_WORKFLOW = 10_000;

// $1: task ids (as uuid, root or parent), $2: group ids, $3: tasks already found.
const LINKED_SQL = (limit: number) => `
  SELECT ${taskColumns(false)} FROM tasks
  WHERE (uuid = ANY($1::text[]) OR root_id = ANY($1::text[]) OR parent_id = ANY($1::text[]) OR group_id = ANY($2::text[]))
    AND uuid <> ALL($3::text[])
  ORDER BY coalesce(sent, received, state_ts), uuid LIMIT ${limit}`;

const at = (t: TaskRow): number => t.sent ?? t.received ?? t.timestamp;

/** The tasks linked to `taskId` by root, parent or group, transitively, oldest first, at most `limit`. */
export async function readWorkflow(db: SqlRunner, taskId: string, limit: number): Promise<Workflow> {
  const cap = Math.min(Math.max(Math.floor(limit), 1), MAX_WORKFLOW);
  const found = new Map<string, TaskRow>();
  const seenIds = new Set([taskId]);
  const seenGroups = new Set<string>();
  let ids = [taskId];
  let groups: string[] = [];
  let truncated = false;
  for (let round = 0; ids.length + groups.length > 0; round++) {
    if (round === MAX_ROUNDS) {
      truncated = true;
      break;
    }
    const rows = (await db.query(LINKED_SQL(cap + 1 - found.size), [ids, groups, [...found.keys()]])).map(toTaskRow);
    ids = [];
    groups = [];
    for (const row of rows) {
      if (found.size === cap) {
        truncated = true;
        break;
      }
      found.set(row.uuid, row);
      for (const id of [row.uuid, row.rootId, row.parentId]) {
        if (id !== null && !seenIds.has(id)) {
          seenIds.add(id);
          ids.push(id);
        }
      }
      if (row.groupId !== null && !seenGroups.has(row.groupId)) {
        seenGroups.add(row.groupId);
        groups.push(row.groupId);
      }
    }
    if (truncated) break;
  }
  const tasks = [...found.values()].sort((a, b) => at(a) - at(b) || (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  return { rootId: found.get(taskId)?.rootId ?? taskId, tasks, truncated };
}

/**
 * Fills the group id of stored tasks that have none ($1: JSON `[{uuid, group_id}]`), and
 * counts the rows it changed. A group id read from a task's result never overrides one an
 * event named.
 */
export const LINK_GROUPS_SQL = `
  WITH linked AS (
    UPDATE tasks AS t SET group_id = x.group_id
    FROM json_to_recordset($1::json) AS x(uuid text, group_id text)
    WHERE t.uuid = x.uuid AND t.group_id IS NULL AND x.group_id IS NOT NULL
    RETURNING 1)
  SELECT count(*)::int AS n FROM linked`;
