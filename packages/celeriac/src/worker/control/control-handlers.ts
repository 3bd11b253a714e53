/**
 * @module worker/control/control-handlers
 * The remote-control commands that change a worker (`celery control ...`), with Python's
 * argument names and reply texts (docs/protocol.md §5.4).
 */
import type { Json, JsonObject } from '../../protocol/types.js';
import type { ControlTarget } from './control-target.js';
import { INSPECT_HANDLERS, NO_REPLY, nok, ok, type ControlHandler } from './inspect-handlers.js';
import { parseRate } from '../../core/rate.js';

/** Celery's `maybe_list`: one id or a list of ids. */
function ids(value: Json | undefined): string[] {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(String);
  return value === undefined || value === null || value === '' ? [] : [String(value)];
}

function num(value: Json | undefined, fallback: number | null): number | null {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

async function revoke(t: ControlTarget, args: JsonObject): Promise<Json> {
  const taskIds = [...new Set(ids(args['task_id']))];
  const terminate = args['terminate'] === true;
  const signal = typeof args['signal'] === 'string' && args['signal'] !== '' ? args['signal'] : 'SIGTERM';
  const terminated = await t.revoke(taskIds, { terminate, signal });
  if (terminate) return terminated.length === 0 ? ok('terminate: tasks unknown') : ok(`terminate: ${terminated.join(', ')}`);
  return ok(`tasks ${taskIds.join(', ')} flagged as revoked`);
}

function rateLimit(t: ControlTarget, args: JsonObject): Json {
  const name = String(args['task_name'] ?? '');
  const raw = args['rate_limit'];
  const limit = raw === null || raw === undefined || raw === '' || raw === 0 || raw === '0' ? null : String(raw);
  if (limit !== null) {
    try {
      parseRate(limit);
    } catch (err) {
      return nok(`Invalid rate limit string: ValueError(${JSON.stringify((err as Error).message)})`);
    }
  }
  if (!t.app.tasks.has(name)) return nok('unknown task');
  t.setRateLimit(name, limit);
  return limit === null ? ok('rate limit disabled successfully') : ok('new rate limit set successfully');
}

function timeLimit(t: ControlTarget, args: JsonObject): Json {
  const name = String(args['task_name'] ?? '');
  if (!t.app.tasks.has(name)) return nok('unknown task');
  t.setTimeLimit(name, { hard: num(args['hard'], null), soft: num(args['soft'], null) });
  return ok('time limits set successfully');
}

function resize(t: ControlTarget, args: JsonObject, sign: 1 | -1): Json {
  const verb = sign > 0 ? 'grow' : 'shrink';
  if (t.pool().autoscale !== null) return nok(`pool_${verb} is not supported with autoscale. Adjust autoscale range instead.`);
  t.resizePool(sign * (num(args['n'], 1) ?? 1));
  return ok(`pool will ${verb}`);
}

function autoscale(t: ControlTarget, args: JsonObject): Json {
  const current = t.pool();
  const max = num(args['max'], current.autoscale?.max ?? current.size) ?? current.size;
  const min = num(args['min'], current.autoscale?.min ?? Math.min(max, 1)) ?? 1;
  const applied = t.autoscale(max, min);
  return ok(`autoscale now max=${applied.max} min=${applied.min}`);
}

async function addConsumer(t: ControlTarget, args: JsonObject): Promise<Json> {
  const queue = String(args['queue'] ?? '');
  if (queue === '') return nok('queue name required');
  await t.addConsumer(queue);
  return ok(`add consumer ${queue}`);
}

async function cancelConsumer(t: ControlTarget, args: JsonObject): Promise<Json> {
  const queue = String(args['queue'] ?? '');
  await t.cancelConsumer(queue);
  return ok(`no longer consuming from ${queue}`);
}

/** The control commands by name. */
export const CONTROL_HANDLERS: Readonly<Record<string, ControlHandler>> = {
  revoke,
  terminate: (t, args) => revoke(t, { ...args, terminate: true }),
  rate_limit: rateLimit,
  time_limit: timeLimit,
  pool_grow: (t, args) => resize(t, args, 1),
  pool_shrink: (t, args) => resize(t, args, -1),
  autoscale,
  add_consumer: addConsumer,
  cancel_consumer: cancelConsumer,
  enable_events: (t) => ok(t.setTaskEvents(true) ? 'task events enabled' : 'task events already enabled'),
  disable_events: (t) => ok(t.setTaskEvents(false) ? 'task events disabled' : 'task events already disabled'),
  heartbeat: async (t) => {
    await t.heartbeat();
    return null;
  },
  shutdown: (t) => {
    t.shutdown();
    return NO_REPLY;
  },
};

/** Every command a Celeriac worker answers. */
export const HANDLERS: Readonly<Record<string, ControlHandler>> = { ...INSPECT_HANDLERS, ...CONTROL_HANDLERS };
