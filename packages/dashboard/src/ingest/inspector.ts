/**
 * @module ingest/inspector
 * Worker details that only remote control knows (pool, queues, registered tasks, active,
 * reserved, scheduled, revoked, stats, conf), fetched as Flower's inspector does, with what
 * its users asked for:
 * - periodic: every `intervalMs`, with exponential back-off while broadcasts fail;
 * - a worker the events announce is inspected at once (Flower misses late starters);
 * - per-method data age: each method's value keeps the time it arrived, failed methods keep
 *   the last value and its (older) time, so the UI can say how stale each part is.
 *
 * The cache is bounded by the number of workers; forgotten workers are dropped with
 * {@link Inspector.forget}.
 */
import type { Json, JsonObject } from 'celeriac';
import type { ControlClient } from 'celeriac/monitor';
import { withDeadline } from './deadline.js';

/** Flower's inspect methods, in its order. */
export const INSPECT_METHODS = ['stats', 'active_queues', 'registered', 'scheduled', 'active', 'reserved', 'revoked', 'conf'] as const;
export type InspectMethod = (typeof INSPECT_METHODS)[number];

/** What is known of one worker from inspection. */
export interface WorkerInspection {
  /** Values by method. */
  readonly values: Partial<Record<InspectMethod, Json>>;
  /** Local epoch ms each method's value arrived. */
  readonly at: Partial<Record<InspectMethod, number>>;
  /** Local epoch ms of the last update of any method. */
  readonly updatedAt: number;
}

/** Options of {@link Inspector}. */
export interface InspectorOptions {
  /** Wait for replies, per broadcast (Flower's `inspect_timeout`). @default 1000 */
  timeoutMs?: number;
  /** Period of the background inspection. @default 10000 */
  intervalMs?: number;
  /** Longest back-off after failures. @default 300000 */
  maxBackoffMs?: number;
  now?: () => number;
  onError?: (error: Error) => void;
  /** Called after a worker's inspection changed. */
  onUpdate?: (worker: string) => void;
}

/** The background inspector and its cache. */
export class Inspector {
  readonly #control: ControlClient;
  readonly #timeoutMs: number;
  readonly #intervalMs: number;
  readonly #maxBackoffMs: number;
  readonly #now: () => number;
  readonly #options: InspectorOptions;
  readonly #cache = new Map<string, { values: Partial<Record<InspectMethod, Json>>; at: Partial<Record<InspectMethod, number>>; updatedAt: number }>();
  /** In-flight refreshes by destination key, so concurrent callers share one broadcast round. */
  readonly #inflight = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;
  /** Local epoch ms of the last complete round that got an answer, null before. */
  lastSuccessAt: number | null = null;
  lastError: string | null = null;

  constructor(control: ControlClient, options: InspectorOptions = {}) {
    this.#control = control;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.#now = options.now ?? Date.now;
    this.#options = options;
  }

  /** Starts the periodic inspection (first round at once). */
  start(): void {
    this.#closed = false;
    this.#schedule(0);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The next delay: the interval, doubled per consecutive failure up to the cap. */
  get nextDelayMs(): number {
    return Math.min(this.#maxBackoffMs, this.#intervalMs * 2 ** Math.min(this.#failures, 16));
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.refresh()
        .then(() => {
          this.#failures = 0;
        })
        .catch((error: unknown) => {
          this.#failures++;
          this.lastError = error instanceof Error ? error.message : String(error);
          this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
        })
        .finally(() => this.#schedule(this.nextDelayMs));
    }, delayMs);
    this.#timer.unref();
  }

  /**
   * Inspects every worker (no `workers`) or the named ones, every method concurrently.
   * Rejects when every broadcast failed (broker down); methods nobody answered keep their
   * previous values.
   */
  refresh(workers?: readonly string[]): Promise<void> {
    const dest = workers === undefined || workers.length === 0 ? null : [...workers].sort();
    const k = dest === null ? '*' : dest.join('\n');
    const running = this.#inflight.get(k);
    if (running !== undefined) return running;
    const p = this.#round(dest).finally(() => this.#inflight.delete(k));
    this.#inflight.set(k, p);
    return p;
  }

  async #round(destination: string[] | null): Promise<void> {
    const results = await Promise.allSettled(
      INSPECT_METHODS.map(async (method) => {
        const args: JsonObject = method === 'active' ? { safe: true } : {};
        const replies = await withDeadline(this.#control.inspect(method, { arguments: args, destination, timeoutMs: this.#timeoutMs }), this.#timeoutMs + 4000, `inspect ${method}`);
        return { method, replies };
      }),
    );
    const changed = new Set<string>();
    let ok = 0;
    for (const r of results) {
      if (r.status === 'rejected') continue;
      ok++;
      const at = this.#now();
      for (const [worker, value] of Object.entries(r.value.replies)) {
        const entry = this.#cache.get(worker) ?? { values: {}, at: {}, updatedAt: at };
        entry.values[r.value.method] = value;
        entry.at[r.value.method] = at;
        entry.updatedAt = at;
        this.#cache.set(worker, entry);
        changed.add(worker);
      }
    }
    if (ok === 0) {
      const first = results.find((r) => r.status === 'rejected');
      throw first?.reason instanceof Error ? first.reason : new Error('inspect failed');
    }
    this.lastSuccessAt = this.#now();
    this.lastError = null;
    for (const w of changed) this.#options.onUpdate?.(w);
  }

  /** Cached inspection of one worker. */
  get(worker: string): WorkerInspection | undefined {
    return this.#cache.get(worker);
  }

  /** Workers with cached inspection, sorted. */
  workers(): string[] {
    return [...this.#cache.keys()].sort();
  }

  /** Drops a worker's cache (it expired). */
  forget(worker: string): void {
    this.#cache.delete(worker);
  }

  /** Queue names any worker consumes (from `active_queues`), and who consumes each. */
  consumers(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const [worker, entry] of this.#cache) {
      const queues = entry.values.active_queues;
      if (!Array.isArray(queues)) continue;
      for (const q of queues) {
        const name = typeof q === 'object' && q !== null && !Array.isArray(q) && typeof q['name'] === 'string' ? q['name'] : null;
        if (name === null) continue;
        const list = out.get(name) ?? [];
        list.push(worker);
        out.set(name, list);
      }
    }
    return out;
  }
}
