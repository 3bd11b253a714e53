/**
 * @module worker/control/rate-limits
 * Per-task rate limits set at run time (`rate_limit` command): Celery's rate strings
 * (`10`, `10/s`, `5/m`, `100/h`) and a token bucket per task name that delays the start of
 * a task until a token is free. Interim home until the executor's own rate limiter lands
 * (the worker re-points `setRateLimit` to it).
 */
import type { Clock } from '../../core/clock.js';

const PER: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Tasks per second for a rate string; 0 means no limit. @throws Error on a bad string. */
export function parseRateLimit(text: string): number {
  const [count = '', unit = 's', ...rest] = text.trim().split('/');
  const seconds = PER[unit.trim() || 's'];
  const n = Number(count.trim());
  if (rest.length > 0 || seconds === undefined || count.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new Error(`could not convert string to rate: ${JSON.stringify(text)}`);
  }
  return n / seconds;
}

interface Bucket {
  readonly rate: number;
  tokens: number;
  last: number;
  /** Serialises waiters so tokens are handed out in arrival order. */
  queue: Promise<void>;
}

/** Token buckets by task name (capacity 1 token: no bursts, like Celery's default). */
export class RateLimits {
  readonly #buckets = new Map<string, Bucket>();

  constructor(private readonly clock: Clock) {}

  /** Sets or (with null / 0) removes the limit of a task. */
  set(taskName: string, limit: string | null): void {
    const rate = limit === null ? 0 : parseRateLimit(limit);
    if (rate <= 0) this.#buckets.delete(taskName);
    else this.#buckets.set(taskName, { rate, tokens: 1, last: this.clock.now(), queue: Promise.resolve() });
  }

  /** The limit in tasks per second, or undefined. */
  rateOf(taskName: string): number | undefined {
    return this.#buckets.get(taskName)?.rate;
  }

  /** Resolves when a task of this name may start. */
  acquire(taskName: string): Promise<void> {
    const bucket = this.#buckets.get(taskName);
    if (bucket === undefined) return Promise.resolve();
    const turn = bucket.queue.then(() => this.#take(bucket));
    bucket.queue = turn;
    return turn;
  }

  #take(bucket: Bucket): Promise<void> {
    const now = this.clock.now();
    bucket.tokens = Math.min(1, bucket.tokens + ((now - bucket.last) / 1000) * bucket.rate);
    bucket.last = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return Promise.resolve();
    }
    const waitMs = ((1 - bucket.tokens) / bucket.rate) * 1000;
    return new Promise((resolve) => this.clock.setTimer(() => resolve(this.#take(bucket)), waitMs));
  }
}
