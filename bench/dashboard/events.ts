/**
 * A synthetic but realistic event stream for the dashboard benches: 20 task names, 4 workers,
 * 4 queues, kwargs with a user id and an email, 5% failures with a traceback, runtimes
 * exponentially distributed around 0.3 s, and each task's events spread over the next
 * tasks' as a busy fleet interleaves them. Deterministic: every run sees the same data.
 */
import type { EventDict } from 'celeriac/monitor';

export const NAMES = ['proj.email.send', 'proj.email.render', 'proj.billing.charge', 'proj.billing.refund', 'proj.reports.build',
  'proj.images.resize', 'proj.images.thumbnail', 'proj.search.index', 'proj.search.reindex', 'proj.sync.pull',
  'proj.sync.push', 'proj.notify.sms', 'proj.notify.push', 'proj.audit.log', 'proj.cleanup.tmp', 'proj.add', 'proj.mul',
  'proj.crawl', 'proj.export.csv', 'proj.import.csv'];
export const WORKERS = ['celery@web-1', 'celery@web-2', 'celeriac@jobs-1', 'celeriac@jobs-2'];
const QUEUES = ['celery', 'emails', 'billing', 'reports'];
export const T_START = Date.UTC(2026, 10, 1) / 1000;
// Tasks in flight: a task's events are spread over this many later tasks' events.
const LAG = 40;

/** Deterministic pseudo-random numbers (mulberry32), so every run sees the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TaskSpec { uuid: string; i: number; name: string; worker: string; queue: string; userId: number; fail: boolean; runtime: number }

function spec(i: number): TaskSpec {
  const r = rng(i * 7919 + 1);
  return {
    uuid: `${(i * 2654435761 >>> 0).toString(16).padStart(8, '0')}-${i.toString(16).padStart(12, '0')}`,
    i, name: NAMES[Math.floor(r() * NAMES.length)] as string, worker: WORKERS[Math.floor(r() * WORKERS.length)] as string,
    queue: QUEUES[Math.floor(r() * QUEUES.length)] as string, userId: Math.floor(r() * 100_000), fail: r() < 0.05,
    runtime: Math.round(-Math.log(1 - r()) * 0.3 * 1000) / 1000,
  };
}

// One task per 10 ms of event time: 1,000,000 tasks span about 2.8 hours.
const at = (t: TaskSpec, offset: number) => T_START + t.i * 0.01 + offset;

function received(t: TaskSpec): EventDict {
  return {
    type: 'task-received', uuid: t.uuid, name: t.name, hostname: t.worker, timestamp: at(t, 0), clock: t.i,
    args: `('order-${t.i}', ${t.i % 97})`, kwargs: `{'user_id': ${t.userId}, 'email': 'user${t.userId}@example.com', 'priority': ${t.i % 3}}`,
    root_id: t.uuid, parent_id: null, retries: 0, eta: null, expires: null, pid: 1234, utcoffset: 0,
  } as EventDict;
}

function started(t: TaskSpec): EventDict {
  return { type: 'task-started', uuid: t.uuid, hostname: t.worker, timestamp: at(t, 0.001), clock: t.i, pid: 1234, utcoffset: 0 } as EventDict;
}

function finished(t: TaskSpec): EventDict {
  return t.fail
    ? {
        type: 'task-failed', uuid: t.uuid, hostname: t.worker, timestamp: at(t, 0.001 + t.runtime), clock: t.i, utcoffset: 0, pid: 1234,
        exception: `TimeoutError('upstream timed out after ${Math.round(t.runtime * 1000)} ms')`,
        traceback: `Traceback (most recent call last):\n  File "tasks.py", line 42, in ${t.name}\n    call_upstream()\nTimeoutError: upstream timed out`,
      } as EventDict
    : {
        type: 'task-succeeded', uuid: t.uuid, hostname: t.worker, timestamp: at(t, 0.001 + t.runtime), clock: t.i, utcoffset: 0, pid: 1234,
        result: `{'status': 'ok', 'order': 'order-${t.i}', 'items': ${t.i % 17}}`, runtime: t.runtime,
      } as EventDict;
}

/**
 * Events for tasks [from, to), interleaved as a worker fleet emits them; yields batches. A
 * task's events are `lag` events apart (default 40: most land in one batch); a lag of two
 * batches puts its received, started and final events in three writes, as a real fleet's
 * tasks that run for seconds do.
 */
export function* eventBatches(from: number, to: number, size: number, lag = LAG): Generator<EventDict[]> {
  let batch: EventDict[] = [];
  const push = (e: EventDict) => {
    batch.push(e);
    if (batch.length >= size) {
      const out = batch;
      batch = [];
      return out;
    }
    return null;
  };
  const half = Math.floor(lag / 2);
  for (let i = from; i < to + lag; i++) {
    const parts: (EventDict | null)[] = [
      i < to ? received(spec(i)) : null,
      i - half >= from && i - half < to ? started(spec(i - half)) : null,
      i - lag >= from && i - lag < to ? finished(spec(i - lag)) : null,
    ];
    for (const e of parts) {
      if (e === null) continue;
      const full = push(e);
      if (full !== null) yield full;
    }
  }
  if (batch.length > 0) yield batch;
}

