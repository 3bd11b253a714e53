/**
 * @module redis/sentinel-console
 * node-redis's Sentinel client prints each failed round of asking the sentinels for the master
 * with `console.log(error)`, stack and all, once a second for as long as none answers (its
 * connect loop, @redis/client's lib/sentinel). A worker's stdout is its log, one JSON object a
 * line (pino): those stacks broke it, four lines of stack a second through an outage, and CI's
 * output showed them too. It also prints `throwing READONLY error` before a READONLY reply
 * from a demoted master reaches the caller, which handles it.
 *
 * So while a Sentinel client made by redis/client.ts is open, `console.log` is wrapped: an
 * Error whose stack runs through node-redis's sentinel module goes to the open clients' log
 * instead, once at warn, and again only when its state changes (core/failure-state.ts, as the
 * connections' outage lines) or after {@link QUIET_MS}
 * without one; the READONLY line is dropped, and so is an Error printed once every client was
 * closed (a round that ended after the close). Every other call is passed on untouched. The
 * wrapper is put in place with the first Sentinel client and stays (unwrapping would undo a
 * wrapper someone set after ours).
 */
import { failureState } from '../core/failure-state.js';
import type { TransportLog, TransportLogFields } from '../core/transport-table.js';

/** How long without such an error before the same state is logged again (a new outage). */
export const QUIET_MS = 10_000;

/** The stack frames of node-redis's sentinel module (its dist/ or, with source maps, lib/). */
const FROM_SENTINEL = /@redis[\\/]client[\\/].*sentinel/;

const READONLY_LINE = 'throwing READONLY error';

/** The open Sentinel clients: their log, and what a line names them by. */
const open = new Map<object, { readonly log: TransportLog; readonly fields: TransportLogFields }>();

let installed = false;
/** The last print's state (core/failure-state.ts), as the outage logs compare them. */
let lastState: string | undefined;
let lastAt = Number.NEGATIVE_INFINITY;

/** Whether `args` is one of node-redis's Sentinel prints (an Error from its module, or the READONLY line). */
export function isSentinelPrint(args: readonly unknown[]): boolean {
  if (args.length !== 1) return false;
  const [arg] = args;
  if (arg === READONLY_LINE) return true;
  return arg instanceof Error && FROM_SENTINEL.test(arg.stack ?? '');
}

/**
 * Takes a Sentinel print: an Error is logged through the first open client's log (none open: a
 * late print of a client closed meanwhile, dropped). True when it was one, and is not to be printed.
 */
export function routeSentinelPrint(args: readonly unknown[], now = Date.now()): boolean {
  if (!isSentinelPrint(args)) return false;
  const [arg] = args;
  const first = open.values().next();
  if (!(arg instanceof Error) || first.done === true) return true;
  const state = failureState(arg);
  const repeat = state === lastState && now - lastAt < QUIET_MS;
  lastState = state;
  lastAt = now;
  if (!repeat) first.value.log('warn', `redis sentinel: ${arg.message}; asking the sentinels again every second, logged again when this changes`, first.value.fields);
  return true;
}

/** Routes `client`'s prints (see the module header) until {@link closedSentinelClient}. */
export function openedSentinelClient(client: object, log: TransportLog, fields: TransportLogFields): void {
  open.set(client, { log, fields });
  if (installed) return;
  installed = true;
  const print = console.log;
  console.log = function (this: unknown, ...args: unknown[]): void {
    if (!routeSentinelPrint(args)) print.apply(this, args);
  };
}

/** `client` was closed: its prints, if any come late, are no longer routed through its log. */
export function closedSentinelClient(client: object): void {
  open.delete(client);
}
