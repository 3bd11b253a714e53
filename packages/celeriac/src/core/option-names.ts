/**
 * @module core/option-names
 * Strict option names, as `createApp` is strict about settings: an unknown task option or
 * call option is an error at definition or send time, naming the Celeriac spelling of a
 * Celery name (`retry_policy` -> `retryPolicy`, `task_id` -> `taskId`) or saying why Celery's
 * option has no equivalent here.
 */
import { CeleriacError, ErrorCodes, type ErrorCode } from '../errors.js';

/**
 * An options or settings object as given: undefined or null is none (Celery's None); anything
 * but an object (a number, a string, an array, a function) is refused with `code`, as
 * `${what} must be an object, got ...`. Taken as it was, a number read as no options, a string
 * as options named "0", "1"..., and null failed with a TypeError inside the library.
 */
export function objectOrNone<T extends object>(given: T | null | undefined, what: string, code: ErrorCode = ErrorCodes.INVALID_ARGUMENT): T | Record<string, never> {
  if (given === undefined || given === null) return {};
  if (typeof given !== 'object' || Array.isArray(given)) throw new CeleriacError(code, `${what} must be an object, got ${Array.isArray(given) ? 'an array' : typeof given}`);
  return given;
}

/** A value given where another was wanted, for an error message: a string quoted, an object or array by kind. */
export function describeGiven(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * `value` when it is a non-empty string (an id, a name, a queue); else INVALID_ARGUMENT, as
 * `${what} must be a non-empty string, got ...`.
 */
export function nonEmptyString(value: unknown, what: string): string {
  if (typeof value === 'string' && value !== '') return value;
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what} must be a non-empty string, got ${describeGiven(value)}`);
}

/** `retry_policy` -> `retryPolicy`. */
function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/**
 * Throws INVALID_ARGUMENT for the first name of `given` not in `known`, with a suggestion:
 * the known name it spells in snake_case or another case, or the reason in `noEquivalent`.
 */
export function checkOptionNames(
  what: string,
  given: object,
  known: ReadonlySet<string>,
  noEquivalent: Readonly<Record<string, string>> = {},
): void {
  for (const name of Object.keys(given)) {
    if (known.has(name)) continue;
    const why = noEquivalent[name] ?? noEquivalent[camel(name)];
    if (why !== undefined) throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: Celery's option ${JSON.stringify(name)} has no Celeriac equivalent: ${why}`);
    const folded = name.toLowerCase().replace(/_/g, '');
    // Celery's `time_limit` is `timeLimitSec` here: the names say their unit.
    const hit = [camel(name), `${camel(name)}Sec`].find((k) => known.has(k)) ?? [...known].find((k) => k.toLowerCase() === folded || k.toLowerCase() === `${folded}sec`);
    const hint = hit === undefined ? ` Known: ${[...known].sort().join(', ')}.` : ` Did you mean ${hit}?`;
    throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `${what}: unknown option ${JSON.stringify(name)}.${hint}`);
  }
}

/** Only JSON travels (docs/security.md): `serializer: 'json'` is accepted, anything else refused. */
export function checkSerializer(what: string, value: unknown): void {
  if (value === undefined || value === 'json') return;
  throw new CeleriacError(
    ErrorCodes.INVALID_ARGUMENT,
    `${what}: serializer ${JSON.stringify(value)} is not supported: Celeriac sends JSON only (pickle, yaml and msgpack are refused as unsafe or unsupported); leave serializer out or set 'json'`,
  );
}
