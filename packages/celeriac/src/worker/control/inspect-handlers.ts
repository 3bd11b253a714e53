/**
 * @module worker/control/inspect-handlers
 * The read-only remote-control commands (`celery inspect ...`), with Python's reply shapes
 * (docs/protocol.md §5.4).
 */
import { arch, platform, release } from 'node:os';
import type { Json, JsonObject } from '../../protocol/types.js';
import { CELERIAC_VERSION } from '../version.js';
import type { PoolStats } from '../pools/types.js';
import type { ControlTarget } from './control-target.js';
import { queueInfo, requestInfo, scheduledInfo } from './request-info.js';

/** A command handler: a reply value, or {@link NO_REPLY}. */
export type ControlHandler = (target: ControlTarget, args: JsonObject) => Json | typeof NO_REPLY | Promise<Json | typeof NO_REPLY>;

/** Returned by a handler that must not reply (`shutdown`). */
export const NO_REPLY: unique symbol = Symbol('no reply');

/** `{"ok": value}`. */
export const ok = (value: Json): JsonObject => ({ ok: value });
/** `{"error": value}`. */
export const nok = (value: Json): JsonObject => ({ error: value });

/** The broker part of `stats`, shaped like kombu's `Connection.info()`. */
function brokerInfo(url: string): JsonObject {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  const transport = u?.protocol.replace(/:$/, '') ?? 'unknown';
  return {
    hostname: u?.hostname || null, userid: u?.username || null, virtual_host: u?.pathname.replace(/^\//, '') || '0',
    port: u?.port ? Number(u.port) : transport === 'redis' ? 6379 : null, insist: false, ssl: transport === 'rediss',
    transport, connect_timeout: 4, transport_options: {}, login_method: null, uri_prefix: null, heartbeat: 120,
    failover_strategy: 'round-robin', alternates: [],
  };
}

function rusage(): JsonObject {
  const r = process.resourceUsage();
  return {
    utime: r.userCPUTime / 1e6, stime: r.systemCPUTime / 1e6, maxrss: r.maxRSS, ixrss: r.sharedMemorySize, idrss: r.unsharedDataSize,
    isrss: r.unsharedStackSize, minflt: r.minorPageFault, majflt: r.majorPageFault, nswap: r.swappedOut, inblock: r.fsRead,
    oublock: r.fsWrite, msgsnd: r.ipcSent, msgrcv: r.ipcReceived, nsignals: r.signalsCount, nvcsw: r.voluntaryContextSwitches,
    nivcsw: r.involuntaryContextSwitches,
  };
}

/** Celery's share of a count as its `writes` prints it: two decimals, 0 when none. */
const share = (v: number, total: number): string => (v === 0 ? 0 : v / total).toFixed(2);

/**
 * The pool part of `stats`, as the Celery pool the kind mirrors answers it (its `_get_info`):
 * prefork with its child pids, `max-tasks-per-child` (or "N/A") and `writes` (tasks handed to
 * each current child); threads with its thread count; solo as Celery's solo. The async pool
 * is Celeriac's own: shaped like solo with its size. `implementation` (not in Celery 5.2's
 * reply, shown as one more row by Flower) names the pool.
 */
export function poolInfo(p: PoolStats, limits: readonly [number, number]): JsonObject {
  const implementation = `celeriac:${p.kind}`;
  switch (p.kind) {
    case 'prefork': {
      // As Celery's counter: only the children that were given a task.
      const writes = (p.writes ?? []).filter((n) => n > 0);
      const total = writes.reduce((a, b) => a + b, 0);
      return {
        'max-concurrency': p.maxConcurrency, processes: [...p.processes], 'max-tasks-per-child': p.maxTasksPerChild ?? 'N/A',
        'put-guarded-by-semaphore': false, timeouts: [...limits],
        writes: {
          total, avg: share(writes.length === 0 ? 0 : total / writes.length, total), all: writes.map((v) => share(v, total)).join(', '),
          raw: writes.join(', '), strategy: 'fair', inqueues: { total: p.processes.length, active: 0 },
        },
        implementation,
      };
    }
    case 'threads':
      return { 'max-concurrency': p.maxConcurrency, threads: p.processes.length, implementation };
    case 'solo':
      return { 'max-concurrency': 1, processes: [process.pid], 'max-tasks-per-child': null, 'put-guarded-by-semaphore': true, timeouts: [], implementation };
    default:
      return { 'max-concurrency': p.maxConcurrency, processes: [process.pid], 'max-tasks-per-child': null, 'put-guarded-by-semaphore': false, timeouts: [...limits], implementation };
  }
}

function stats(t: ControlTarget): JsonObject {
  const pool = t.pool();
  return {
    total: Object.fromEntries(t.totals()),
    pid: process.pid,
    clock: String(t.lamport.value),
    uptime: Math.floor((t.app.clock.now() - t.startedAt) / 1000),
    pool: { ...poolInfo(t.poolStats(), [t.app.settings.taskSoftTimeLimitSec ?? 0, t.app.settings.taskTimeLimitSec ?? 0]), busy: pool.busy },
    broker: brokerInfo(t.app.brokerUrl),
    prefetch_count: t.prefetchCount,
    rusage: rusage(),
  };
}

function registered(t: ControlTarget, args: JsonObject): Json {
  const builtins = args['builtins'] === true;
  const names = [...t.app.tasks.keys()].filter((n) => builtins || !n.startsWith('celery.')).sort();
  const items = Array.isArray(args['taskinfoitems']) ? args['taskinfoitems'].filter((i): i is string => typeof i === 'string') : [];
  if (items.length === 0) return names;
  return names.map((name) => {
    const task = t.app.tasks.get(name) as unknown as Record<string, unknown> | undefined;
    const options = (task?.['options'] ?? {}) as Record<string, unknown>;
    // Celery reads task attributes; ours are split between the task and its options.
    const value = (item: string): unknown => (item === 'name' ? name : options[camel(item)]);
    const fields = items.filter((i) => value(i) !== undefined && value(i) !== null).map((i) => `${i}=${String(value(i))}`);
    return fields.length === 0 ? name : `${name} [${fields.join(' ')}]`;
  });
}

const camel = (snake: string) => snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function report(t: ControlTarget): JsonObject {
  return ok([
    `software -> celeriac:${CELERIAC_VERSION} node:${process.version}`,
    `platform -> system:${platform()} arch:${arch()} release:${release()}`,
    `worker -> ${t.hostname} pid:${process.pid}`,
    `broker -> ${t.app.brokerUrl}`,
    `results -> ${t.app.backendUrl}`,
    '',
    ...Object.entries(t.conf(false)).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].join('\n'));
}

/** Mingle: reply with our revoked ids (float timestamps: Python refuses ints) and clock. */
function hello(t: ControlTarget, args: JsonObject): Json {
  if (args['from_node'] === t.hostname) return null;
  const theirs = args['revoked'];
  if (theirs !== null && typeof theirs === 'object' && !Array.isArray(theirs)) {
    const merged = new Map<string, number>();
    for (const [id, value] of Object.entries(theirs)) {
      const ts = Array.isArray(value) ? value[0] : value;
      if (typeof ts === 'number') merged.set(id, t.app.clock.now());
    }
    t.mergeRevoked(merged);
  }
  const revoked: JsonObject = {};
  for (const [id, at] of t.revoked()) revoked[id] = [pyFloat(at / 1000), id];
  return { revoked, clock: t.lamport.forward() };
}

/**
 * A number Python parses as float. JSON drops `.0`, so an integral value is nudged by a
 * microsecond (these are timestamps; nothing compares them that finely).
 */
function pyFloat(n: number): number {
  return Number.isInteger(n) ? n + 1e-6 : n;
}

/**
 * Celery's `query_task`: `[state, request info]` of each id the worker holds ('active',
 * 'reserved'). Beyond Celery, an ETA task the broker holds for this worker's queues (a Celeriac
 * worker defers it there instead of keeping it in memory) answers as 'scheduled' with its `eta`.
 */
async function queryTask(t: ControlTarget, args: JsonObject): Promise<Json> {
  const raw = args['ids'];
  const ids = new Set(Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : []);
  const out: JsonObject = {};
  for (const r of t.requests()) {
    const id = r.message.headers.id;
    if (ids.has(id)) out[id] = [r.state, requestInfo(r, t.hostname)];
  }
  if (Object.keys(out).length === ids.size) return out;
  for (const s of await t.scheduled()) {
    const id = s.message.headers.id;
    if (ids.has(id) && out[id] === undefined) {
      const { eta, request } = scheduledInfo(s, t.hostname) as { eta: Json; request: JsonObject };
      out[id] = ['scheduled', { ...request, eta }];
    }
  }
  return out;
}

/** The inspect commands by name. */
export const INSPECT_HANDLERS: Readonly<Record<string, ControlHandler>> = {
  ping: () => ok('pong'),
  stats: (t) => stats(t),
  active: (t) => [...t.requests()].filter((r) => r.state === 'active').map((r) => requestInfo(r, t.hostname)),
  reserved: (t) => [...t.requests()].filter((r) => r.state === 'reserved').map((r) => requestInfo(r, t.hostname)),
  scheduled: async (t) => (await t.scheduled()).map((s) => scheduledInfo(s, t.hostname)),
  registered,
  active_queues: (t) => t.queues().map(queueInfo),
  revoked: (t) => [...t.revoked().keys()],
  conf: (t, args) => t.conf(args['with_defaults'] === true),
  query_task: queryTask,
  report,
  clock: (t) => ({ clock: t.lamport.value }),
  hello,
};
