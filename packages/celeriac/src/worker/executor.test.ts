/**
 * The outcome table as the executor applies it: one case per row, each checking the four
 * columns (stored state, follow-ups sent, event, ack decision) and the count. The pool is a
 * fake that ends every run as the case says, so each row is reached directly; the app, its
 * memory backend and broker are real.
 */
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { buildTaskMessage } from '../core/producer.js';
import { Ignore, Reject, Retry, TaskRevokedError, TimeLimitExceeded, WorkerLostError } from '../core/task-errors.js';
import type { Delivery } from '../core/spi/broker.js';
import type { ApplyOptions } from '../core/call-options.js';
import { encodeEnvelope } from '../protocol/envelope.js';
import { encodeTaskMessage } from '../protocol/task-message.js';
import type { Message } from '../protocol/types.js';
import { createTestApp } from '../testing/test-app.js';
import { Executor } from './executor.js';
import { OUTCOME_TABLE, type OutcomeKind } from './outcome-table.js';
import { endedRun } from './pools/supervise.js';
import { TimeLimitTable } from './pools/time-limit-table.js';
import type { PoolRun, RunResult, TaskPool } from './pools/types.js';
import { Semaphore } from './semaphore.js';
import type { TaskEvent } from './task-events.js';
import { taskEventFields } from './events/task-event-fields.js';

/** How a case reaches its row. */
interface Case {
  /** The task: `late` acks late and drops failures; `lost` also requeues a lost worker; `early` acks early. */
  task?: 'late' | 'lost' | 'early' | 'unknown';
  /** What the fake pool's run ends with. */
  ran?: RunResult | 'terminate';
  options?: ApplyOptions;
  revoked?: boolean;
  accepting?: boolean;
  /** Publishing a message of this task fails. */
  failPublishOf?: string;
  /** The delivery's envelope text instead of the task message's. */
  raw?: string;
  /** The broker's delivery count. */
  deliveryCount?: number;
  /** Storing a final state fails (the backend is down). */
  failStore?: boolean;
}

/** What a row must do: the state stored, the task names published, the events, the acts on the message, whether counted. */
interface Expected {
  stored: string | null;
  published: string[];
  events: string[];
  acts: string[];
  counted: boolean;
}

const FAILED = (error: unknown): RunResult => ({ ok: false, error });
const FUTURE = Date.parse('2030-01-01T00:00:00Z');

const CASES: Record<OutcomeKind, [Case, Expected]> = {
  // Decided for the delivery: each settled through the same path as every row.
  malformed: [{ raw: '{"body": "not a kombu envelope' }, { stored: null, published: [], events: [], acts: ['set-aside'], counted: false }],
  // workerMaxDeliveries is 10 by default: the 11th delivery is not run.
  'over-limit': [{ deliveryCount: 11 }, { stored: 'FAILURE', published: [], events: ['task-failed'], acts: ['dead-letter'], counted: false }],
  'worker-failure': [{ failStore: true }, { stored: null, published: ['t.callback'], events: [], acts: ['redeliver'], counted: false }],
  // As Celery's Consumer.on_unknown_task: no task-received, task-failed, rejected.
  unregistered: [{ task: 'unknown' }, { stored: 'FAILURE', published: [], events: ['task-failed'], acts: ['reject'], counted: false }],
  revoked: [{ revoked: true }, { stored: 'REVOKED', published: [], events: ['task-revoked'], acts: ['ack'], counted: false }],
  expired: [{ options: { expires: new Date(0) } }, { stored: 'REVOKED', published: [], events: ['task-revoked:expired'], acts: ['ack'], counted: false }],
  deferred: [{ options: { eta: FUTURE } }, { stored: null, published: [], events: [], acts: [`defer:${FUTURE}`], counted: false }],
  'not-started': [{ accepting: false }, { stored: null, published: [], events: [], acts: ['restore'], counted: false }],
  success: [{ ran: { ok: true, value: 5 } }, { stored: 'SUCCESS', published: ['t.callback'], events: ['task-succeeded'], acts: ['ack'], counted: true }],
  failure: [{ ran: FAILED(new TypeError('boom')) }, { stored: 'FAILURE', published: ['t.errback'], events: ['task-failed'], acts: ['reject'], counted: true }],
  // No link: a callback would take the value first, and fail to be sent (a 'failure').
  unencodable: [{ ran: { ok: true, value: new Map() as never }, options: { link: [] } }, { stored: 'FAILURE', published: ['t.errback'], events: ['task-failed'], acts: ['reject'], counted: true }],
  timeout: [{ ran: FAILED(new TimeLimitExceeded(3)) }, { stored: 'FAILURE', published: ['t.errback'], events: ['task-failed'], acts: ['reject'], counted: true }],
  'worker-lost': [{ ran: FAILED(new WorkerLostError('gone')) }, { stored: 'FAILURE', published: ['t.errback'], events: ['task-failed'], acts: ['reject'], counted: true }],
  'worker-lost-requeued': [{ task: 'lost', ran: FAILED(new WorkerLostError('gone')) }, { stored: null, published: [], events: [], acts: ['redeliver'], counted: true }],
  retry: [{ ran: FAILED(new Retry({ countdown: 10 })) }, { stored: 'RETRY', published: ['t.late'], events: ['task-retried'], acts: ['ack'], counted: true }],
  rejected: [{ ran: FAILED(new Reject()) }, { stored: null, published: [], events: ['task-rejected'], acts: ['reject'], counted: true }],
  'rejected-requeue': [{ ran: FAILED(new Reject({ requeue: true })) }, { stored: null, published: [], events: ['task-rejected:requeue'], acts: ['requeue'], counted: true }],
  ignored: [{ ran: FAILED(new Ignore()) }, { stored: null, published: [], events: [], acts: ['ack'], counted: true }],
  terminated: [{ ran: 'terminate' }, { stored: 'REVOKED', published: [], events: ['task-revoked:terminated:15'], acts: ['ack'], counted: true }],
  abandoned: [{ task: 'early', ran: 'abandoned' }, { stored: 'FAILURE', published: [], events: ['task-failed'], acts: ['ack'], counted: false }],
  'abandoned-restored': [{ ran: 'abandoned' }, { stored: null, published: [], events: [], acts: ['restore'], counted: false }],
};

/** A pool that ends each run as told, at once; `onRun` may act while the run is "in progress". */
function fakePool(end: () => RunResult, onRun: (run: PoolRun) => void = () => undefined): TaskPool {
  const slots = new Semaphore(1);
  return {
    kind: 'async',
    get size() {
      return slots.size;
    },
    get busy() {
      return slots.busy;
    },
    start: () => Promise.resolve(),
    acquire: () => slots.acquire(),
    cancelWaiters: () => slots.cancelWaiters(),
    resize: (n) => slots.resize(n),
    run: (run) => {
      onRun(run);
      return endedRun(end());
    },
    stats: () => ({ kind: 'async', maxConcurrency: 1, busy: slots.busy, processes: [], maxTasksPerChild: null, maxMemoryPerChild: null, timeouts: [0, 0] }),
    close: () => Promise.resolve(),
  };
}

function eventLabel(e: TaskEvent): string {
  if (e.type === 'task-revoked') return [e.type, ...(e.expired ? ['expired'] : []), ...(e.terminated ? ['terminated', String(e.signum)] : [])].join(':');
  if (e.type === 'task-rejected' && e.requeue) return `${e.type}:requeue`;
  return e.type;
}

/** The events of the last {@link runCase}. */
let lastEvents: TaskEvent[] = [];

/** Runs one delivery of the case through a fresh executor; returns what each column shows. */
async function runCase(c: Case): Promise<Expected> {
  const { app, backend, broker } = createTestApp();
  if (c.failStore === true) vi.spyOn(backend, 'store').mockRejectedValue(new Error('backend down'));
  const late = { acksLate: true, acksOnFailureOrTimeout: false };
  app.task('t.late', late, () => null);
  app.task('t.lost', { ...late, rejectOnWorkerLost: true }, () => null);
  app.task('t.early', { acksLate: false }, () => null);
  const callback = app.task('t.callback', (x: unknown) => x);
  const errback = app.task('t.errback', (x: unknown) => x);
  const published: string[] = [];
  const publish = broker.publish.bind(broker);
  vi.spyOn(broker, 'publish').mockImplementation((message: Message, options) => {
    if (message.headers.task === c.failPublishOf) return Promise.reject(new Error('broker refused'));
    published.push(String(message.headers.task));
    return publish(message, options);
  });
  const events: TaskEvent[] = [];
  const counted: string[] = [];
  const name = c.task === 'unknown' ? 't.nobody' : `t.${c.task ?? 'late'}`;
  const out = buildTaskMessage(app, name, [], {}, { link: callback.s(), linkError: errback.s(), ...c.options });
  const id = out.message.headers.id;
  // The pool's run terminates the job through the executor, made just below.
  const made: { executor?: Executor } = {};
  const pool = fakePool(
    () => (c.ran === 'terminate' ? FAILED(new TaskRevokedError('terminated')) : (c.ran ?? { ok: true, value: null })),
    () => {
      if (c.ran === 'terminate') made.executor?.terminate(new Set([id]), 'SIGTERM');
    },
  );
  const executor = (made.executor = new Executor({
    app,
    hostname: 'w@h',
    pool,
    timeLimits: new TimeLimitTable({ hard: null, soft: null }),
    log: pino({ level: 'silent' }),
    countProcessed: (n) => counted.push(n),
    accepting: () => c.accepting ?? true,
    emit: (e) => events.push(e),
    isRevoked: () => c.revoked ?? false,
    rememberRevoked: () => undefined,
    throttle: () => null,
    markRunning: () => null,
  }));
  const acts: string[] = [];
  const act = (what: string) => async () => void acts.push(what);
  const delivery: Delivery = {
    raw: c.raw ?? encodeEnvelope(encodeTaskMessage(out.message), { deliveryTag: 'tag-1', exchange: '', routingKey: 'celery' }),
    ...(c.deliveryCount === undefined ? {} : { deliveryCount: c.deliveryCount }),
    queue: 'celery',
    tag: 'tag-1',
    redelivered: false,
    ack: act('ack'),
    reject: async ({ requeue }) => void acts.push(requeue ? 'requeue' : 'reject'),
    restore: act('restore'),
    defer: async (at, options) => void acts.push(options?.redelivered === true ? 'redeliver' : `defer:${at}`),
    setAside: async (_reason, options) => void acts.push(options?.category ?? 'set-aside'),
  };
  await executor.handle(delivery);
  lastEvents = events;
  vi.mocked(backend.store).mockRestore?.();
  const meta = await backend.get(id);
  return {
    stored: meta?.status ?? null,
    published,
    // An unknown task's task-received would show here (it must not be sent).
    events: events.filter((e) => e.type !== 'task-started' && (e.type !== 'task-received' || c.task === 'unknown')).map(eventLabel),
    acts,
    counted: counted.length > 0,
  };
}

describe('the outcome table, as the executor applies it', () => {
  it('an unknown task\'s task-failed carries Celery\'s exception text', async () => {
    await runCase({ task: 'unknown' });
    expect(lastEvents.map((e) => e.type)).toEqual(['task-failed']);
    expect(taskEventFields(lastEvents[0] as TaskEvent)).toMatchObject({ exception: "NotRegistered('t.nobody')" });
  });

  it('has a case here for every row', () => {
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(OUTCOME_TABLE).sort());
  });

  for (const [kind, [c, expected]] of Object.entries(CASES)) {
    it(`${kind}: stores, sends, emits, settles and counts as its row says`, async () => {
      expect(await runCase(c)).toEqual(expected);
    });
  }

  it('an early-acked task is acked once, before it runs, whatever its outcome', async () => {
    for (const ran of [{ ok: true, value: 1 }, FAILED(new TypeError('x')), FAILED(new Reject({ requeue: true })), FAILED(new Retry({ countdown: 1 }))] as RunResult[]) {
      expect((await runCase({ task: 'early', ran })).acts).toEqual(['ack']);
    }
  });

  it('a success whose callbacks cannot be sent, or a retry that cannot be published, is a failure', async () => {
    const failed = { stored: 'FAILURE', published: ['t.errback'], events: ['task-failed'], acts: ['reject'], counted: true };
    expect(await runCase({ ran: { ok: true, value: 1 }, failPublishOf: 't.callback' })).toEqual(failed);
    // task-retried goes out just before the retry's message, so a retry that cannot be published reports both.
    expect(await runCase({ ran: FAILED(new Retry({ countdown: 1 })), failPublishOf: 't.late' })).toEqual({ ...failed, events: ['task-retried', 'task-failed'] });
  });
});
