// Live rows of the tasks page without a gap between the list fetch and the live stream.
//
// The page subscribes before it fetches. A live task update that arrives while a fetch is in
// flight is kept and merged into that fetch's answer by uuid (the newer of the two wins), so a
// task that changed, or appeared, between the server's read and the answer is not lost. The
// server publishes a task live before its store has written it, so a task announced live that
// a fetched page does not hold may only be late: it is looked for again, at most LOOK_AGAIN
// fetches (it may also simply not match the page's filters).

/** Fetches that may miss a task announced live before the page stops looking for it. */
export const LOOK_AGAIN = 3;
/** Most tasks looked for at once (a busy cluster behind a filter announces many that never show). */
export const MAX_MISSING = 500;

const time = (t) => (typeof t?.timestamp === 'number' ? t.timestamp : -Infinity);
const known = (t) => Object.fromEntries(Object.entries(t).filter(([, v]) => v !== null && v !== undefined));

/** `row` updated by `update` (same uuid): the newer one's fields win, the other fills what it lacks. */
export function mergeTask(row, update) {
  return time(update) >= time(row) ? { ...row, ...known(update) } : { ...known(update), ...row };
}

/** Tracks live task updates against the page's fetches. */
export class LiveRows {
  constructor() {
    this.fetching = 0; // fetches begun and not settled
    this.kept = new Map(); // uuid -> live update seen while a fetch was in flight
    this.missing = new Map(); // uuid -> fetches since it was announced that did not hold it
  }

  /** A fetch of the list starts. */
  begin() {
    this.fetching += 1;
  }

  /** A fetch ended without an answer (aborted or failed): what was kept waits for the next. */
  abandon() {
    this.fetching = Math.max(0, this.fetching - 1);
  }

  /**
   * A live update. Returns 'shown' when `shown(uuid)` (the caller updates that row), else
   * 'missing' (the caller refetches). While a fetch is in flight, the update is also kept for it.
   */
  update(task, shown) {
    if (this.fetching > 0) this.kept.set(task.uuid, this.kept.has(task.uuid) ? mergeTask(this.kept.get(task.uuid), task) : task);
    if (shown(task.uuid)) return 'shown';
    if (!this.missing.has(task.uuid) && this.missing.size < MAX_MISSING) this.missing.set(task.uuid, 0);
    return 'missing';
  }

  /**
   * A fetch answered `list`: returns the list with the kept updates merged in, and whether a
   * task announced live is still missing from it (the caller fetches again, later).
   */
  settle(list) {
    this.fetching = Math.max(0, this.fetching - 1);
    const tasks = list.map((t) => (this.kept.has(t.uuid) ? mergeTask(t, this.kept.get(t.uuid)) : t));
    const here = new Set(tasks.map((t) => t.uuid));
    for (const [uuid, misses] of this.missing) {
      // An update kept during this fetch may postdate the server's read: this fetch does not count.
      if (here.has(uuid)) this.missing.delete(uuid);
      else if (!this.kept.has(uuid)) {
        if (misses + 1 >= LOOK_AGAIN) this.missing.delete(uuid);
        else this.missing.set(uuid, misses + 1);
      }
    }
    if (this.fetching === 0) this.kept.clear();
    return { tasks, lookAgain: this.missing.size > 0 };
  }
}
