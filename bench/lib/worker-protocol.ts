/**
 * @module bench/lib/worker-protocol
 * What a Node worker child is told (environment) and what each peer's worker module exports.
 * Types only, so a worker child loads nothing of the harness but its own library.
 */

/** Read by worker-child.ts from BENCH_* environment variables. */
export interface WorkerEnv {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  /** The peer's key prefix for this run. */
  readonly prefix: string;
  /** Queue name (inside the prefix). */
  readonly queue: string;
  readonly concurrency: number;
  /** Send task events (Celeriac's `-E`); ignored by the other peers. */
  readonly events: boolean;
}

/** A worker that has connected (prepared) but not yet started consuming. */
export interface BenchWorker {
  /** Start consuming. */
  start(): Promise<void>;
  /** Stop consuming and close connections. */
  close(): Promise<void>;
}

/** Each `peers/*-worker.ts` default-exports one of these. */
export type CreateWorker = (env: WorkerEnv) => Promise<BenchWorker>;

/** A child's `process.memoryUsage()`, in bytes. */
export interface ChildMemory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}

/** Messages a worker child sends over IPC. */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'started' }
  | { type: 'closed' }
  | { type: 'error'; message: string }
  | ({ type: 'memory' } & ChildMemory);
/** Messages a worker child receives over IPC ('memory' asks for a {@link ChildMemory} reply; the soak samples it). */
export type ParentMessage = { type: 'go' } | { type: 'stop' } | { type: 'memory' };
