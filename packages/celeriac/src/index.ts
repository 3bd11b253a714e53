/**
 * Celery for TypeScript. The everyday public API: the app factory, tasks and their options,
 * results, canvas, the worker, errors and the types they use. Named exports only. Each other
 * area has a subpath of its own: `celeriac/redis`, `celeriac/memory`, `celeriac/beat`,
 * `celeriac/monitor`, `celeriac/worker`, `celeriac/settings`, `celeriac/spi`,
 * `celeriac/testing` and `celeriac/testing/conformance` (see docs/api.md).
 *
 * @example
 * ```ts
 * import { createApp, Worker } from 'celeriac';
 * export const app = createApp({ broker: process.env.CELERY_BROKER_URL });
 * export const add = app.task('proj.add', (x: number, y: number) => x + y);
 * const r = await add.delay(2, 3);
 * console.log(await r.get({ timeoutMs: 10_000 })); // 5
 * ```
 *
 * @module celeriac
 */
export { createApp } from './create-app.js';
export { fromCelery } from './core/celery-config.js';
export type { App, AppOptions } from './core/app.js';
export type { AnyTask, Task, TaskCallOptions } from './core/task.js';
export type { ErrorClass, TaskOptions } from './core/task-options.js';
export type { SchemaInput, SchemaOutput, StandardIssue, StandardSchemaV1 } from './core/standard-schema.js';
export type { TaskContext, TaskRequest } from './core/context.js';
export type { SignalHandler, SignalName, SignalPayloads, SignalTask } from './core/signals.js';
export type { ApplyOptions, Callback, TaskApplyOptions, TimeInput } from './core/call-options.js';
export type { TaskCall } from './core/producer.js';
export type { RetryOptions } from './core/retry.js';
export type { RateLimit } from './core/rate.js';
export type { ResolvedSettings, RouteTarget, Settings, TaskRoutes } from './core/settings.js';
export { createLogger } from './core/log.js';
export type { LogFormat, LoggerOptions } from './core/log.js';
export { AsyncResult, EagerResult } from './core/async-result.js';
export type { GetOptions, ResultGroup } from './core/async-result.js';
export type { SendPromise } from './core/early-wait.js';
export { GroupResult } from './core/group-result.js';
export type { GroupGetOptions } from './core/group-result.js';
export { PublishError } from './core/publish-retry.js';
export type { PublishRetryPolicy } from './core/publish-retry.js';
export { Signature } from './core/signature.js';
export type { SignatureCallOptions, SignatureChanges, SignatureLike } from './core/signature.js';
export { Chain, Chord, Group, chain, chord, group, signature } from './canvas/primitives.js';
export type { AnyComposable, Composable, GroupInput, InputOf, ResultOf, ResultsOf, ValidChain } from './canvas/primitives.js';
export { chunks, map, starmap } from './canvas/map.js';
export { Worker } from './worker/worker.js';
export type { CloseOptions, HeldTask, WorkerState } from './worker/worker.js';
export type { WorkerOptions } from './worker/worker-options.js';
export type { TaskEvent, TaskEventListener, TaskEventType } from './worker/task-events.js';
export { CeleriacError, ErrorCodes } from './errors.js';
export type { ErrorCode } from './errors.js';
export {
  ChordError,
  Ignore,
  ImproperlyConfigured,
  InvalidArguments,
  MaxRetriesExceededError,
  NotRegistered,
  Reject,
  ResultTimeoutError,
  Retry,
  SoftTimeLimitExceeded,
  TaskError,
  TaskRevokedError,
  TimeLimitExceeded,
  WorkerLostError,
} from './core/task-errors.js';
export type { RetryBackoff } from './core/task-errors.js';
export { ProtocolError } from './protocol/errors.js';
export { READY_STATES, isReady } from './protocol/states.js';
export type { ExceptionRecord, Json, JsonObject, ResultMeta, TaskState } from './protocol/types.js';
