/**
 * @module live/task-feed
 * Follows tasks through Celery events, the way Flower does: one event receiver on the
 * broker, folded into a cluster state (the engine's state model: a late event never moves a
 * task back, and a final state stays final), and every change pushed to subscribers. The
 * live page and `GET /tasks/{id}/events` read it. It needs only the broker's event fanout, never the result backend, so it works
 * unchanged with any broker and any backend (`rpc://` included).
 *
 * Progress comes from `task-progress` events, which tasks send with `ctx.sendEvent`
 * (Celery's `Task.send_event`).
 */
import { isReady, type App } from 'celeriac';
import { ClusterState, EventReceiver, type EventDict, type TaskRecord } from 'celeriac/monitor';
import type { Logger } from 'pino';

/** One task as the feed knows it. */
export interface TaskUpdate {
  readonly id: string;
  readonly name: string | null;
  readonly state: string;
  /** Node name of the worker that received it. */
  readonly worker: string | null;
  /** Last progress reported: `{ current, total }`. */
  readonly progress: { readonly current: number; readonly total: number } | null;
  readonly args: string | null;
  /** Repr of the return value (SUCCESS). */
  readonly result: string | null;
  /** Repr of the error (FAILURE, RETRY). */
  readonly exception: string | null;
  readonly runtime: number | null;
  /** Local time (epoch ms) of the last change. */
  readonly updatedAt: number;
}

/** Receives feed updates; must not throw. */
export type FeedListener = (update: TaskUpdate) => void;

/** True for a final state (the engine's state model: SUCCESS, FAILURE, REVOKED). */
export function isFinal(state: string): boolean {
  return isReady(state);
}

/** The task feed of one API process. */
export class TaskFeed {
  readonly #state = new ClusterState({ maxTasks: 2000, maxWorkers: 200 });
  readonly #progress = new Map<string, { current: number; total: number }>();
  readonly #listeners = new Set<FeedListener>();
  readonly #receiver: EventReceiver;
  #started: Promise<void> | undefined;

  constructor(
    celery: App,
    private readonly log: Logger,
  ) {
    this.#receiver = new EventReceiver(celery.broker, (event, receivedAt) => this.#apply(event, receivedAt), {
      bindingKey: 'task.#',
      onError: (err) => this.log.warn({ err }, 'undecodable event ignored'),
    });
  }

  /** Subscribes to the broker's events (idempotent). */
  start(): Promise<void> {
    this.#started ??= this.#receiver.start();
    return this.#started;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await this.#receiver.close();
  }

  /** Calls `listener` with every change; returns the unsubscribe function. */
  subscribe(listener: FeedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The task, if an event mentioned it. */
  get(id: string): TaskUpdate | undefined {
    const t = this.#state.task(id);
    return t === undefined ? undefined : this.#view(t);
  }

  /** The most recently changed tasks named `name` (any name when null), latest first. */
  recent(limit: number, name: string | null = null): TaskUpdate[] {
    const out: TaskUpdate[] = [];
    for (const t of this.#state.tasks()) {
      if (name !== null && t.name !== name) continue;
      out.push(this.#view(t));
      if (out.length >= limit) break;
    }
    return out;
  }

  #view(t: TaskRecord): TaskUpdate {
    return {
      id: t.uuid,
      name: t.name,
      state: t.state,
      worker: t.worker,
      progress: this.#progress.get(t.uuid) ?? null,
      args: t.args,
      result: t.result,
      exception: t.exception,
      runtime: t.runtime,
      updatedAt: t.updatedAt,
    };
  }

  #apply(event: EventDict, receivedAt: number): void {
    const change = this.#state.apply(event, receivedAt);
    if (change === null || change.kind !== 'task') return;
    const id = change.task.uuid;
    if (event.type === 'task-progress') {
      const current = Number(event['current']);
      const total = Number(event['total']);
      if (Number.isFinite(current) && Number.isFinite(total)) this.#progress.set(id, { current, total });
    }
    if (this.#progress.size > 2000) this.#progress.delete(this.#progress.keys().next().value as string);
    const update = this.#view(change.task);
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch (err) {
        this.log.warn({ err }, 'feed listener failed');
      }
    }
  }
}
