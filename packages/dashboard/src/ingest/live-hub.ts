/**
 * @module ingest/live-hub
 * Fan-out of cluster changes to live subscribers (the `/api/live` SSE streams). Each
 * subscriber gets every message published after it subscribed; a slow subscriber is the
 * server's to drop (see server/live.ts), so publishing never blocks ingest.
 */

/** One message pushed to browsers. */
export interface LiveMessage {
  /** `task`, `worker`, `stats`... (the SSE event name). */
  readonly type: string;
  readonly data: unknown;
}

export type LiveListener = (message: LiveMessage) => void;

/** Publish/subscribe of live changes. */
export class LiveHub {
  readonly #listeners = new Set<LiveListener>();

  /** Subscribes; returns the unsubscribe function. */
  subscribe(listener: LiveListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }

  publish(type: string, data: unknown): void {
    if (this.#listeners.size === 0) return;
    const message = { type, data };
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch {
        // A broken subscriber must not stop the others.
      }
    }
  }
}
