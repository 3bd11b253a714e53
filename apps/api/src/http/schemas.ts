/**
 * @module http/schemas
 * TypeBox schemas shared by the routes: they validate requests, type the handlers and feed
 * the OpenAPI document, from one definition.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { HttpError } from './errors.js';

/** Every error response: a status, a short name, a stable code and a message for people. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'HTTP status text' }),
    code: Type.String({ description: 'Stable machine-readable code' }),
    message: Type.String(),
    requestId: Type.String(),
  },
  { $id: 'ErrorBody', description: 'An error' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** `{ 400: ErrorBody, 404: ErrorBody, ... }` for a route's `response` schema. */
export function errors(...codes: number[]): Record<number, TSchema> {
  return Object.fromEntries(codes.map((c) => [c, Type.Ref(ErrorBody)]));
}

/** A Celery task id: a uuid, or another id a client chose (letters, digits, `-_.:`). */
export const TaskIdParam = Type.Object({ taskId: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'Task id' }) });

/** A task name: dotted words. */
export const TaskName = Type.String({ pattern: '^[A-Za-z_][\\w.:-]{0,199}$', description: 'Registered task name, such as demo.add' });

/** Any JSON value (arguments and results of tasks). */
export const JsonValue = Type.Unknown({ description: 'Any JSON value' });

/** Integer ids of database rows. */
export const RowId = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

/** `?page=&pageSize=` with limits. */
export const PageQuery = Type.Object({
  page: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
  pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

/** A page of `item`. */
export function PageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), page: Type.Integer(), pageSize: Type.Integer(), total: Type.Integer() });
}

/** The furthest ahead a call may be put off, by countdown or eta, and the longest expiry: 30 days. */
const MAX_DELAY_SEC = 30 * 86_400;

/** Keyword arguments: names a Python function can take (a Celery worker calls it with them). */
// additionalProperties: the pattern alone only checks the values of keys that match it, and any
// other key was let through (`{"not a name": 1}`).
export const Kwargs = Type.Record(Type.String({ pattern: '^[A-Za-z_]\\w{0,63}$' }), Type.Unknown(), { additionalProperties: false });

/** Call options the generic endpoints accept (a safe subset of `applyAsync`'s). */
export const CallOptions = Type.Object(
  {
    countdown: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_DELAY_SEC, description: 'Run no earlier than this many seconds from now' })),
    eta: Type.Optional(Type.String({ format: 'date-time', description: 'Run no earlier than this time (at most 30 days ahead)' })),
    expires: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_DELAY_SEC, description: 'Skip it if not started within this many seconds' })),
    queue: Type.Optional(Type.String({ pattern: '^[\\w.:-]{1,100}$' })),
    priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 9 })),
  },
  { additionalProperties: false },
);
export type CallOptions = Static<typeof CallOptions>;

/**
 * Refuses an eta further ahead than a countdown may be (30 days). The schema checks only its
 * format, and `9999-12-31T23:59:59Z` was accepted: a message parked among the broker's delayed
 * ones for ever.
 */
export function checkEta(options: CallOptions | undefined, now = Date.now()): void {
  if (options?.eta === undefined) return;
  if (Date.parse(options.eta) - now > MAX_DELAY_SEC * 1000) {
    throw new HttpError(400, 'ETA_TOO_FAR', `eta ${options.eta} is more than 30 days ahead: a task may be put off 30 days at most`);
  }
}
