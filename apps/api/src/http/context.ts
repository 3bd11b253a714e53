/**
 * @module http/context
 * What the routes share: the runtime, the task feed, the compiled allow-list and the open
 * event streams (closed before the server stops, so shutdown never waits on them).
 */
import type { TaskFeed } from '../live/task-feed.js';
import type { Runtime } from '../runtime.js';
import type { SseStream } from './sse.js';

/** The routes' shared state. */
export interface ServerContext {
  readonly runtime: Runtime;
  readonly feed: TaskFeed;
  readonly allowed: (name: string) => boolean;
  readonly streams: Set<SseStream>;
}
