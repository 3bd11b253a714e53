/**
 * @module http/allow-list
 * Which task names the generic endpoints may send (`TASK_ALLOW_LIST`): exact names or
 * globs where `*` matches any run of characters, as Celery's task routes read them, and
 * only names of tasks the app registered.
 */
import { HttpError } from './errors.js';

/** Compiles the list into a predicate. */
export function compileAllowList(patterns: readonly string[]): (name: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (name) => res.some((re) => re.test(name));
}

/**
 * Throws a 403 for a name outside the list, then a 404 for an allowed name that no task of
 * this app has: a glob like `demo.*` must not let `demo.nope` through to fail later on a
 * worker as NotRegistered. The list is checked first, so names off it learn nothing more.
 */
export function checkAllowed(allowed: (name: string) => boolean, name: string, registered: (name: string) => boolean): void {
  if (!allowed(name)) throw new HttpError(403, 'TASK_NOT_ALLOWED', `task ${JSON.stringify(name)} is not on the allow-list (TASK_ALLOW_LIST)`);
  if (!registered(name)) throw new HttpError(404, 'TASK_NOT_REGISTERED', `task ${JSON.stringify(name)} is not registered in this app (the allow-list matches it, but no task has that name)`);
}
