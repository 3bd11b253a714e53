/**
 * @module backends/redis/keys
 * Every key name of the Redis result backend, built in one place (DESIGN §2.6). The task and
 * group keys are Celery's (docs/protocol.md §3), so Python clients read what we write.
 * Celery's broker `global_keyprefix` does not apply here (§2.8); `prefix` is Celeriac's own
 * option, empty by default, used to isolate tests on a shared Redis.
 */

/** Celery's prefix of a task's meta key, also the pub/sub channel name. */
export const TASK_META_PREFIX = 'celery-task-meta-';
/** Celery's prefix of a saved group (`GroupResult.save()`). */
export const GROUP_META_PREFIX = 'celery-taskset-meta-';
/** Celeriac's sorted set of revoked task ids (member: id, score: expiry epoch ms). */
export const REVOKED_SET = 'celeriac:revoked';
/** Celeriac's channel where each revoke is announced to running workers. */
export const REVOKE_CHANNEL = 'celeriac:revoke-notices';
/** Prefix of Celeriac's cluster-wide rate limit keys (`celeriac:rate:<task name>`). */
export const RATE_PREFIX = 'celeriac:rate:';

/** Key builders of one backend. */
export interface BackendKeys {
  /** `celery-task-meta-<id>`: the task's meta, and the channel its updates are published on. */
  taskMeta(taskId: string): string;
  /** `celery-taskset-meta-<gid>`. */
  groupMeta(groupId: string): string;
  /** The revoked set. */
  readonly revoked: string;
  /** The channel revokes are announced on (a pub/sub channel, not a key). */
  readonly revokeChannel: string;
  /** `celeriac:rate:<key>`: the next free slot of a cluster-wide rate limit. */
  rateLimit(key: string): string;
  /**
   * A chord's join keys (docs/protocol.md §3.7): `.j` sorted set of finished parts, `.t`
   * extra parts counter, `.s` chord size; all under `celery-taskset-meta-<gid>`.
   */
  chord(groupId: string): { join: string; counter: string; size: string };
}

/** Key builders with `prefix` in front of every key. */
export function backendKeys(prefix = ''): BackendKeys {
  return Object.freeze({
    taskMeta: (taskId: string) => `${prefix}${TASK_META_PREFIX}${taskId}`,
    groupMeta: (groupId: string) => `${prefix}${GROUP_META_PREFIX}${groupId}`,
    revoked: `${prefix}${REVOKED_SET}`,
    revokeChannel: `${prefix}${REVOKE_CHANNEL}`,
    rateLimit: (key: string) => `${prefix}${RATE_PREFIX}${key}`,
    chord: (groupId: string) => {
      const base = `${prefix}${GROUP_META_PREFIX}${groupId}`;
      return { join: `${base}.j`, counter: `${base}.t`, size: `${base}.s` };
    },
  });
}
