/**
 * @module ingest/group-links
 * The group ids Python workers' events leave out. Celery names a task's group only in its
 * message and in its stored result (`group_id`), never in an event; a Celeriac worker's
 * `task-received` and a Celeriac client's `task-sent` add it. So for a task that finished
 * on another worker without any event naming its group, the result is read from the result
 * backend (a batch of ids in one `getMany`, after the task's row is written) and its group
 * id filled in the store: a Python-only fleet's chords and groups are then found whole once
 * their members finish (store/workflow-sql).
 *
 * Bounded: at most `maxPending` ids wait (past it the oldest are dropped, counted), one read
 * of at most `batch` ids runs at a time, and backends that keep no results to read
 * (`memory://` in the dashboard's process, `rpc://`) are never asked.
 */
import type { EventDict } from 'celeriac/monitor';
import type { ResultStore } from 'celeriac/spi';
import type { HistoryStore } from '../store/history-store.js';

/** Options of {@link GroupLinks}. */
export interface GroupLinksOptions {
  /** Ids waiting for a read, at most. @default 20000 */
  maxPending?: number;
  /** Ids read per round. @default 1000 */
  batch?: number;
}

const FINAL_EVENTS = new Set(['task-succeeded', 'task-failed']);

const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : null);

/** Reads the group ids of finished tasks no event named a group for; see the module doc. */
export class GroupLinks {
  readonly #openBackend: () => ResultStore;
  #backend: ResultStore | null | undefined;
  readonly #store: HistoryStore;
  readonly #maxPending: number;
  readonly #batch: number;
  /** Tasks an event named a group for (the newest `maxPending`). */
  readonly #named = new Set<string>();
  readonly #pending = new Set<string>();
  #running = false;
  /** Tasks whose group id was filled in from their result. */
  linked = 0;
  /** Ids dropped unread because too many waited. */
  dropped = 0;

  /** @param backend - opens the app's result backend (on first use; one that fails to open is not asked). */
  constructor(backend: () => ResultStore, store: HistoryStore, options: GroupLinksOptions = {}) {
    this.#openBackend = backend;
    this.#store = store;
    this.#maxPending = options.maxPending ?? 20_000;
    this.#batch = options.batch ?? 1000;
  }

  /** The backend to read, or null when it keeps nothing this process could read. */
  #readable(): ResultStore | null {
    if (this.#backend === undefined) {
      try {
        const backend = this.#openBackend();
        this.#backend = backend.kind === 'memory' || backend.kind === 'rpc' ? null : backend;
      } catch {
        this.#backend = null;
      }
    }
    return this.#backend;
  }

  /** Ids waiting for a read. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Looks at one task event; `celeriacWorker` says its sender adds the group to its events. */
  observe(type: string, event: EventDict, celeriacWorker: boolean): void {
    if (this.#readable() === null) return;
    const uuid = text(event['uuid']);
    if (uuid === null) return;
    if (text(event['group']) !== null || text(event['group_id']) !== null) {
      this.#named.add(uuid);
      this.#pending.delete(uuid);
      if (this.#named.size > this.#maxPending) this.#named.delete(this.#named.values().next().value as string);
      return;
    }
    if (!FINAL_EVENTS.has(type) || celeriacWorker || this.#named.has(uuid)) return;
    this.#pending.add(uuid);
    if (this.#pending.size > this.#maxPending) {
      this.#pending.delete(this.#pending.values().next().value as string);
      this.dropped++;
    }
  }

  /**
   * One round: takes up to `batch` waiting ids, waits for `flushed` (so their rows are
   * stored), reads their results and fills in the groups. At most one round at a time.
   */
  async run(flushed: () => Promise<void>): Promise<void> {
    const backend = this.#readable();
    if (this.#running || backend === null || this.#pending.size === 0) return;
    this.#running = true;
    try {
      const ids: string[] = [];
      for (const id of this.#pending) {
        ids.push(id);
        this.#pending.delete(id);
        if (ids.length === this.#batch) break;
      }
      await flushed();
      const metas = await backend.getMany(ids);
      const links = ids.flatMap((uuid, i) => {
        const groupId = text(metas[i]?.group_id);
        return groupId === null ? [] : [{ uuid, groupId }];
      });
      if (links.length > 0) this.linked += await this.#store.linkGroups(links);
    } finally {
      this.#running = false;
    }
  }
}
