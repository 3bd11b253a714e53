/**
 * @module bench/lib/types
 * The contract every peer implements, and the raw numbers a run produces.
 */

/** Peers in the order of the table's columns. */
export const PEER_NAMES = ['celeriac', 'bullmq', 'bee-queue', 'celery'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** Column titles. */
export const PEER_LABELS: Record<PeerName, string> = {
  celeriac: 'Celeriac',
  bullmq: 'BullMQ',
  'bee-queue': 'Bee-Queue',
  celery: 'Celery',
};

/** Where everything runs: one Redis, one namespace (key prefix) per peer and run. */
export interface BenchContext {
  readonly redisHost: string;
  readonly redisPort: number;
  /** Redis db number shared by every peer; peers are isolated by key prefix. */
  readonly redisDb: number;
  /** Unique per run, e.g. `celeriac-bench:1f3a:`; each peer appends its own name. */
  readonly runPrefix: string;
  /** Longest a single measured step may take before it is abandoned and noted. */
  readonly stepTimeoutMs: number;
  /** Progress lines (stderr). */
  log(line: string): void;
  /** CPU seconds (user + system) the Redis server has used so far, from its INFO. */
  redisCpuSeconds(): Promise<number>;
}

/** How a worker is started for one drain. */
export interface WorkerConfig {
  /** Row key: the concurrency the row is about (1, 10, 100). */
  readonly concurrency: number;
  /** Celery's pool ('prefork' | 'threads'); JS peers have one pool. */
  readonly pool?: string;
  /** Human label, e.g. `prefork -c 2`. */
  readonly label: string;
  /** Celeriac only: the worker sends task events (`-E`), a second configuration of the top row. */
  readonly events?: boolean;
  /** Tasks the same worker drains, unmeasured, before the measured ones (lib/flow.ts runDrain). */
  readonly warmup?: number;
}

/** What a callgrind worker ran between the zero and the dump of its counter (lib/proc.ts CallgrindCounter). */
export interface InstructionWindow {
  /** Instructions, all threads. */
  readonly total: number;
  /** Of total, in V8's optimizing compiler (Compiler::CompileOptimized, inclusive): warm-up, not the tasks' own work. */
  readonly compiler: number;
  /** Of total, in V8's collections (Heap::CollectGarbage, inclusive; not the incremental marking between them). */
  readonly gc: number;
  /** Functions by their own (exclusive) count, most first, the JIT's code named: with `callgrindFunctions` only. */
  readonly functions?: readonly (readonly [name: string, count: number])[];
}

/** An enqueue measurement. */
export interface EnqueueResult {
  readonly n: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly note?: string;
}

/** Peak memory of a worker, in MiB. */
export interface RssResult {
  /** Peak resident set: VmHWM of the worker process (JS), or the sampled peak sum of the process tree (Celery prefork). */
  readonly peakMb: number;
  /** How it was measured. */
  readonly method: string;
}

/** A drain measurement (n pre-enqueued no-op tasks, results stored). */
export interface DrainResult {
  readonly config: WorkerConfig;
  readonly n: number;
  /** Completed tasks (n unless timed out). */
  readonly completed: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly rss: RssResult | null;
  /** CPU seconds (user + system) the worker used during the drain; unlike tasks/s, barely moved by other load on the machine. */
  readonly cpuSec?: number;
  /**
   * Of cpuSec, what the worker's main thread used (Node workers only). The rest ran on V8's
   * threads: mostly the optimizing compiler warming up, which a short drain pays in full.
   */
  readonly mainThreadCpuSec?: number;
  /** Instructions the worker ran during the drain: a worker under callgrind only (bench/instructions.ts). */
  readonly instructions?: InstructionWindow;
  /**
   * CPU seconds the Redis server used during the drain (its INFO used_cpu_user + sys): the
   * other half of a drain's cost, which the worker's own CPU does not show. Includes the
   * harness's completion probes, which are light and the same for every peer.
   */
  readonly redisCpuSec?: number;
  /** The batched enqueue that filled the queue. */
  readonly enqueue: EnqueueResult;
  /** Events-on drains: messages a `celeryev` subscriber of the run received (lib/event-listener.ts). */
  readonly eventMessages?: number;
  /** Set when the step was abandoned (timeout, crash). */
  readonly skipped?: string;
}

/** Sequential send-to-result latency. */
export interface RoundTripResult {
  readonly n: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly rss: RssResult | null;
  /**
   * CPU per timed call, µs, of the three processes a round trip goes through: the bench
   * process (the client), the worker (all its threads) and the Redis server. Absent where
   * the client is not the bench process (Celery's Python producer).
   */
  readonly cpuUs?: { readonly client: number; readonly worker: number; readonly redis: number };
  readonly skipped?: string;
}

/** What run.ts drives. Each method cleans its own keys before returning. */
export interface Peer {
  readonly name: PeerName;
  /** Version string of the library under test. */
  version(): Promise<string>;
  /** Worker configurations for the drain rows at these concurrencies. */
  drainConfigs(concurrencies: readonly number[]): WorkerConfig[];
  /** Enqueue n no-op tasks, each awaited before the next. */
  enqueueOneByOne(n: number): Promise<EnqueueResult>;
  /** Enqueue n no-op tasks in batches (the library's bulk API where it has one). */
  enqueueBatched(n: number): Promise<EnqueueResult>;
  /** Pre-enqueue n tasks, then start a worker child and time until every result is stored. */
  drain(n: number, config: WorkerConfig): Promise<DrainResult>;
  /** n sequential send -> wait for result round trips against a running worker child. */
  roundTrip(n: number): Promise<RoundTripResult>;
  /** Deletes every key of this peer (its own prefix only) and closes its clients. */
  close(): Promise<void>;
}
