/**
 * @module bench/lib/api-load
 * The client side of the API bench (bench/api.ts): a closed loop of `concurrency` callers
 * sharing n calls, each call `POST /tasks/<name>` then following `GET /tasks/<id>/events`
 * (server-sent events) until the task's final state, and a reader for that event stream.
 */
import { nowMs, percentile } from './stats.js';

/** One server-sent event. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Splits complete events off the front of an event-stream text: returns them and the
 * unfinished rest. Lines starting with `:` are comments (keep-alives); `retry:` and `id:`
 * are ignored; several `data:` lines of one event are joined with newlines, as EventSource does.
 */
export function takeSseEvents(text: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalized = text.replace(/\r\n?/g, '\n');
  let start = 0;
  for (let end = normalized.indexOf('\n\n', start); end >= 0; end = normalized.indexOf('\n\n', start)) {
    const block = normalized.slice(start, end);
    start = end + 2;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return { events, rest: normalized.slice(start) };
}

/** The states after which a task changes no more. */
const FINAL = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

/** A task's status as both services send it in their `task` events. */
export interface TaskStatusEvent {
  readonly state: string;
  readonly result?: unknown;
}

/**
 * Reads a `GET /tasks/<id>/events` response until a `task` event with a final state; returns
 * that event's data. @throws Error when the stream ends first or sends something else than JSON.
 */
export async function readUntilFinal(body: ReadableStream<Uint8Array>): Promise<TaskStatusEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the event stream ended before a final state (${JSON.stringify(text.slice(0, 200))} left)`);
      const taken = takeSseEvents(text + decoder.decode(value, { stream: true }));
      text = taken.rest;
      for (const e of taken.events) {
        if (e.event !== 'task') continue;
        const status = JSON.parse(e.data) as TaskStatusEvent;
        // Both services end the stream after the final event: read to its end, so that the
        // connection goes back to the client's pool instead of being torn down.
        if (FINAL.has(status.state)) {
          while (!(await reader.read()).done);
          return status;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** What a closed-loop run measured. */
export interface LoadResult {
  readonly n: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Calls that threw (each counted, not timed); the first error's message. */
  readonly errors: number;
  readonly firstError?: string;
}

/**
 * Runs `call(i)` n times from `concurrency` loops, each starting its next call when the last
 * one ended (a closed loop: the offered load follows the service). Stops starting calls after
 * `deadline` (monotonic ms); calls that throw are counted as errors.
 */
export async function closedLoop(n: number, concurrency: number, call: (i: number) => Promise<void>, deadline = Number.POSITIVE_INFINITY): Promise<LoadResult> {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const t0 = nowMs();
  const loop = async () => {
    while (next < n && nowMs() < deadline) {
      const i = next++;
      const start = nowMs();
      try {
        await call(i);
        latencies.push(nowMs() - start);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, loop));
  const seconds = (nowMs() - t0) / 1000;
  return {
    n: latencies.length,
    concurrency,
    seconds,
    perSec: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}
