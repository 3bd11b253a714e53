/**
 * @module protocol/limits
 * The one rule for the numbers that bound a task's run and delivery, used by task options,
 * call options, worker options, settings (and so CLI flags and environment variables) and the
 * worker's decoder of incoming messages, so a value accepted in one place is never refused in
 * another (before, `timeLimit: Infinity` was accepted at registration and then failed every
 * send, and `timeLimit: 0` was refused though 0 meant "no limit" everywhere else):
 * - time limits (hard, soft): a finite number of seconds >= 0, or null; 0 and null both mean
 *   no limit, as in Celery (`if time_limit:`);
 * - countdown and expires: a finite number of seconds >= 0;
 * - priority: an integer from 0 to 9.
 * Anything else (NaN, Infinity, a negative number, a string) is refused.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/**
 * The longest task, group, parent or root id, in characters. Celery's are uuids (36); a 10 MB
 * id was taken by the worker, stored under a 10 MB result key and written whole into every log
 * line about the task. RabbitMQ carries at most 255 bytes of it (the correlation id) anyway.
 */
export const MAX_ID_LENGTH = 1024;

/** Why `value` is not a time limit (see the module header), or null when it is one. */
export function timeLimitProblem(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `must be a finite number of seconds >= 0, or null (0 and null: no limit), got ${describe(value)}`;
  return null;
}

/** Why `value` is not a countdown or expires in seconds, or null when it is one. */
export function secondsProblem(value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return `must be a finite number of seconds >= 0, got ${describe(value)}`;
  return null;
}

/** Why `value` is not a message priority, or null when it is one. */
export function priorityProblem(value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 9) return `must be an integer from 0 to 9, got ${describe(value)}`;
  return null;
}

/**
 * A time limit, checked: the seconds, or null for none (null, undefined and 0).
 * @throws CeleriacError INVALID_ARGUMENT naming `what`.
 */
export function checkTimeLimit(value: unknown, what: string): number | null {
  const problem = timeLimitProblem(value);
  if (problem !== null) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} ${problem}`);
  return value === 0 || value === undefined ? null : (value as number | null);
}

/** Throws INVALID_ARGUMENT naming `what` when `value` (unless undefined) is not a countdown/expires in seconds. */
export function checkSeconds(value: unknown, what: string): void {
  const problem = value === undefined ? null : secondsProblem(value);
  if (problem !== null) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} ${problem}`);
}

/** Throws INVALID_ARGUMENT naming `what` when `value` (unless undefined) is not a priority. */
export function checkPriority(value: unknown, what: string): void {
  const problem = value === undefined ? null : priorityProblem(value);
  if (problem !== null) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} ${problem}`);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
