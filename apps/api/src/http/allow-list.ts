/**
 * @module http/allow-list
 * Which task names the generic endpoints may send (`TASK_ALLOW_LIST`): exact names or
 * globs where `*` matches any run of characters, as Celery's task routes read them.
 */
import { HttpError } from './errors.js';

/** Compiles the list into a predicate. */
export function compileAllowList(patterns: readonly string[]): (name: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (name) => res.some((re) => re.test(name));
}

/** Throws a 403 for a name outside the list. */
export function checkAllowed(allowed: (name: string) => boolean, name: string): void {
  if (!allowed(name)) throw new HttpError(403, 'TASK_NOT_ALLOWED', `task ${JSON.stringify(name)} is not on the allow-list (TASK_ALLOW_LIST)`);
}
