/**
 * @module core/producer
 * Turns a call (name, args, kwargs, options) into a Celery protocol v2 task message and
 * publishes it. Option precedence follows Celery: the call's own options, then the task's
 * options, then `taskRoutes`, then app settings.
 */
import { hostname } from 'node:os';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { checkPriority, checkSeconds, checkTimeLimit } from '../protocol/limits.js';
import { argsRepr, kwargsRepr } from '../protocol/repr.js';
import { encodeTaskMessage } from '../protocol/task-message.js';
import { inDatetimeRange, isoformatUtc, parseIsoTime } from '../protocol/time.js';
import type { Json, JsonObject, Message, MessageProperties, TaskMessage } from '../protocol/types.js';
import type { Clock } from './clock.js';
import { currentTask } from './current-task.js';
import type { Route } from './routing.js';
import type { ResolvedSettings } from './settings.js';
import { toSignatureDicts } from './signature.js';
import { uuid4 } from './uuid.js';
import { CALL_OPTION_NAMES, CALL_OPTIONS_WITHOUT_EQUIVALENT, callOptionsObject, checkCallOptionValues, renameCallOptions, type ApplyOptions, type TimeInput } from './call-options.js';
import { checkOptionNames, checkSerializer } from './option-names.js';
import type { ResolvedTaskOptions } from './task-options.js';
import type { Broker, PublishOptions, PublishRequest } from './spi/broker.js';

/** What the producer needs from the app. */
export interface ProducerHost {
  readonly settings: ResolvedSettings;
  readonly broker: Broker;
  readonly clock: Clock;
  readonly replyTo: string;
  route(taskName: string): Route | null;
  lookup(taskName: string): { readonly options: ResolvedTaskOptions } | undefined;
}

/** One call of a bulk send (`app.sendTasks`): a task by name with its arguments and options. */
export interface TaskCall {
  readonly name: string;
  /** Positional arguments. @default [] */
  readonly args?: readonly Json[];
  /** Keyword arguments. @default {} */
  readonly kwargs?: JsonObject;
  /** Celery's call options, as for `sendTask`. @default {} */
  readonly options?: ApplyOptions;
}

/** A built message and where it goes. */
export interface OutgoingTask {
  message: TaskMessage;
  route: Route;
  priority: number;
  /** Epoch ms of the ETA, when in the future. */
  deliverAt?: number;
}

/** This process's node name as Celery writes it in `headers.origin`: `gen<pid>@<host>`. */
export const ORIGIN = `gen${process.pid}@${hostname()}`;

function toEpochMs(value: TimeInput, what: string): number {
  let ms: number;
  try {
    ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : parseIsoTime(value);
  } catch {
    // A caller's bad argument, not a bad message: the same error as any other bad time.
    ms = Number.NaN;
  }
  if (!Number.isFinite(ms)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} is not a valid time: ${String(value)}`);
  return ms;
}

function resolveTimes(options: ApplyOptions, now: number): { eta: number | null; expires: number | null } {
  checkSeconds(options.countdown, 'countdown');
  if (options.countdown !== undefined && options.eta !== undefined) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, 'give either countdown or eta, not both');
  }
  const eta = options.countdown !== undefined ? writable(now + options.countdown * 1000, 'countdown', options.countdown) : options.eta !== undefined ? writable(toEpochMs(options.eta, 'eta'), 'eta', options.eta) : null;
  let expires: number | null = null;
  if (typeof options.expires === 'number') {
    checkSeconds(options.expires, 'expires');
    expires = writable(now + options.expires * 1000, 'expires', options.expires);
  } else if (options.expires !== undefined) {
    expires = writable(toEpochMs(options.expires, 'expires'), 'expires', options.expires);
  }
  return { eta, expires };
}

/**
 * `ms`, when the message can carry it: a time outside the years 1 to 9999 (a countdown of 1e12
 * seconds) is one no Python datetime holds, refused naming the option, not by the formatter's
 * "Epoch time out of range" alone.
 */
function writable(ms: number, what: string, given: TimeInput): number {
  if (inDatetimeRange(ms)) return ms;
  const shown = given instanceof Date ? given.toISOString() : String(given);
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} ${shown} gives a time outside the years 1 to 9999, all a Python datetime (so a Celery worker) can hold`);
}

/** The message properties, in the order Celery 5.2.6 writes them. */
function messageProperties(id: string, replyTo: string, nesting: number | undefined, expirationMs: number | undefined, priority: number): MessageProperties {
  const properties = { correlation_id: id, reply_to: replyTo } as MessageProperties;
  if (nesting !== undefined) properties['replaced_task_nesting'] = nesting;
  properties.delivery_mode = 2;
  if (expirationMs !== undefined) properties.expiration = String(expirationMs);
  properties.priority = priority;
  return properties;
}

/**
 * A sent task's name must be a non-empty string (as app.task's): a message naming no task, or a
 * number, is one every worker (Python's too) sets aside as malformed.
 * @throws CeleriacError INVALID_ARGUMENT naming what was given.
 */
function checkTaskName(name: unknown): void {
  if (typeof name === 'string' && name !== '') return;
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `send: the task name must be a non-empty string, got ${typeof name === 'string' ? '""' : String(name)}`);
}

/** Whether `options` is a plain object without keys (`delay()`'s): then there is nothing to check. */
function isEmptyPlainObject(options: object): boolean {
  if (Object.getPrototypeOf(options) !== Object.prototype) return false;
  for (const _ in options) return false;
  return true;
}

/** Checks a call's options: their names, then the values the message takes as they are. */
function checkCallOptions(name: string, options: ApplyOptions): void {
  const what = `call of ${name}`;
  checkOptionNames(what, options, CALL_OPTION_NAMES, CALL_OPTIONS_WITHOUT_EQUIVALENT);
  checkSerializer(what, options.serializer);
  checkCallOptionValues(what, options);
  checkTimeLimit(options.timeLimitSec, 'timeLimitSec');
  checkTimeLimit(options.softTimeLimitSec, 'softTimeLimitSec');
}

/**
 * Builds the message for one call. Pure apart from ids and the clock. `checked` holds the
 * options objects a bulk send already checked (its calls mostly share one): checked once.
 */
export function buildTaskMessage(host: ProducerHost, name: string, args: readonly Json[], kwargs: JsonObject, given: ApplyOptions, checked?: Set<ApplyOptions>): OutgoingTask {
  checkTaskName(name);
  const options: ApplyOptions = renameCallOptions(callOptionsObject(`call of ${name}`, given));
  if (!Array.isArray(args)) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `args of ${name} must be an array`);
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `kwargs of ${name} must be an object`);
  }
  if (!isEmptyPlainObject(options) && checked?.has(given) !== true) {
    checkCallOptions(name, options);
    checked?.add(given);
  }
  const { settings, clock } = host;
  const task = host.lookup(name);
  const topts = task?.options;
  const now = clock.now();
  // The task's own expires (seconds after sending) applies when the call sets none.
  const { eta, expires } = resolveTimes(options.expires === undefined && topts?.expires !== undefined ? { ...options, expires: topts.expires } : options, now);
  const id = options.taskId ?? uuid4();
  const parent = currentTask();
  const routed = host.route(name);
  const queue = options.queue ?? topts?.queue ?? routed?.queue ?? settings.taskDefaultQueue;
  const route: Route = {
    queue,
    exchange: options.exchange ?? (options.queue ?? topts?.queue ? '' : routed?.exchange ?? ''),
    routingKey: options.routingKey ?? (options.queue ?? topts?.queue ? queue : routed?.routingKey ?? queue),
  };
  const priority = options.priority ?? topts?.priority ?? routed?.priority ?? settings.taskDefaultPriority ?? 0;
  checkPriority(priority, 'priority');
  const message: TaskMessage = {
    protocol: 2,
    headers: {
      lang: 'js',
      task: name,
      id,
      shadow: options.shadow ?? null,
      eta: eta === null ? null : isoformatUtc(eta),
      expires: expires === null ? null : isoformatUtc(expires),
      group: options.groupId ?? null,
      group_index: options.groupIndex ?? null,
      retries: options.retries ?? 0,
      timelimit: [options.timeLimitSec ?? topts?.timeLimitSec ?? null, options.softTimeLimitSec ?? topts?.softTimeLimitSec ?? null],
      root_id: options.rootId ?? parent?.rootId ?? id,
      parent_id: options.parentId ?? parent?.id ?? null,
      argsrepr: argsRepr(args as Json[]),
      kwargsrepr: kwargsRepr(kwargs),
      origin: ORIGIN,
      ignore_result: options.ignoreResult ?? topts?.ignoreResult ?? settings.taskIgnoreResult,
    },
    extraHeaders: options.headers === undefined ? {} : { ...options.headers },
    properties: messageProperties(id, options.replyTo ?? host.replyTo, options.replacedTaskNesting, expires === null ? undefined : Math.max(0, Math.round(expires - now)), priority),
    args: [...args] as Json[],
    kwargs: { ...kwargs },
    embed: {
      callbacks: toSignatureDicts(options.link),
      errbacks: toSignatureDicts(options.linkError),
      chain: options.chain ? [...options.chain] : null,
      chord: options.chord ?? null,
    },
  };
  const out: OutgoingTask = { message, route, priority };
  if (eta !== null && eta > now) out.deliverAt = eta;
  return out;
}

function publishRequest(out: OutgoingTask, extra?: Pick<PublishOptions, 'fence'>): PublishRequest {
  // The default exchange '' delivers to the queue named by the routing key, so publish to
  // the queue itself; a custom routing key only means something with a named exchange.
  const { exchange, queue, routingKey } = out.route;
  const options: PublishOptions = { exchange, routingKey: exchange === '' ? queue : routingKey, priority: out.priority };
  if (extra?.fence !== undefined) options.fence = extra.fence;
  if (out.deliverAt !== undefined) options.deliverAt = out.deliverAt;
  return { message: encodeTaskMessage(out.message), options };
}

/** Publishes a message some other way when it can (core/early-wait.ts), else returns undefined. */
export interface PublishCarrier {
  publish(message: Message, options: PublishOptions): Promise<void> | undefined;
}

/**
 * Publishes a built message; `extra.fence` makes the publish conditional (beat), a `carrier`
 * publishes it when it can. Not an async
 * frame of its own (the send path's hot step): a message that cannot be encoded rejects.
 */
export function publishTask(broker: Broker, out: OutgoingTask, extra?: Pick<PublishOptions, 'fence'>, carrier?: PublishCarrier): Promise<void> {
  try {
    const { message, options } = publishRequest(out, extra);
    return carrier?.publish(message, options) ?? broker.publish(message, options);
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/**
 * Publishes built messages in order: with the broker's `publishMany` when it has one (one
 * round trip for the lot on Redis), else one `publish` after the other.
 */
export async function publishTasks(broker: Broker, outs: readonly OutgoingTask[]): Promise<void> {
  const requests = outs.map((out) => publishRequest(out));
  if (broker.publishMany !== undefined) {
    await broker.publishMany(requests);
    return;
  }
  for (const { message, options } of requests) await broker.publish(message, options);
}
