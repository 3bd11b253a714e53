/**
 * @module celeriac
 * Celery for TypeScript. The curated public API: named exports only.
 *
 * @example
 * ```ts
 * import { createApp, Worker } from 'celeriac';
 * export const app = createApp({ broker: process.env.CELERY_BROKER_URL });
 * export const add = app.task('proj.add', (x: number, y: number) => x + y);
 * const r = await add.delay(2, 3);
 * console.log(await r.get({ timeout: 10_000 })); // 5
 * ```
 */
export { createApp } from './create-app.js';
export { REVOKE_EXPIRES_SEC } from './core/app.js';
export type { App, AppOptions } from './core/app.js';
export { AsyncResult, EagerResult } from './core/async-result.js';
export type { GetOptions } from './core/async-result.js';
export { systemClock } from './core/clock.js';
export type { Clock, TimerHandle } from './core/clock.js';
export type { TaskContext, TaskRequest } from './core/context.js';
export type { ApplyOptions, TimeInput } from './core/call-options.js';
export { SETTINGS, resolveSettings } from './core/settings.js';
export type { ResolvedSettings, RouteTarget, SettingSpec, Settings, TaskRoutes } from './core/settings.js';
export { Signature } from './core/signature.js';
export type { SignatureCallOptions, SignatureChanges, SignatureHost, SignatureLike } from './core/signature.js';
export { GroupResult } from './core/group-result.js';
export type { GroupGetOptions, GroupResultHost } from './core/group-result.js';
export { Chain, Chord, Group, chain, chord, group, signature } from './canvas/primitives.js';
export type { AnyComposable, Composable, GroupInput, InputOf, ResultOf, ResultsOf, ValidChain } from './canvas/primitives.js';
export { chunks, map, starmap } from './canvas/map.js';
export type { ChordJoinState, ChordPart, ResultBackend, RevokedEntry, RevokeNotice, RevokeOptions, StoreOptions, Unsubscribe } from './core/spi/backend.js';
export type { Broker, BrokerCapabilities, ConsumeOptions, Consumer, Delivery, PublishOptions, PublishRequest, SetAsideRecord } from './core/spi/broker.js';
export type { TaskCall } from './core/producer.js';
export { Task } from './core/task.js';
export type { AnyTask, TaskCallOptions } from './core/task.js';
export type { ErrorClass, TaskOptions } from './core/task-options.js';
export {
  ChordError,
  Ignore,
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
export type { RetryOptions } from './core/retry.js';
export { parseRate } from './core/rate.js';
export type { RateLimit } from './core/rate.js';
export { defaultTransports } from './transports.js';
export type { TransportContext, TransportLog, TransportTable } from './core/transports.js';
export { CeleriacError, ErrorCodes, coerceError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { MemoryBackend } from './backends/memory/memory-backend.js';
export { MemoryBroker } from './brokers/memory/memory-broker.js';
export { RedisBackend } from './backends/redis/redis-backend.js';
export type { RedisBackendOptions } from './backends/redis/redis-backend.js';
export { RedisBroker } from './brokers/redis/redis-broker.js';
export type { RedisBrokerOptions } from './brokers/redis/options.js';
export { ProtocolError } from './protocol/errors.js';
export { READY_STATES, isReady } from './protocol/states.js';
export type { ExceptionRecord, Json, JsonObject, ResultMeta, TaskState } from './protocol/types.js';
export { Beat, BEAT_HEADER } from './beat/beat.js';
export type { BeatCloseOptions, BeatState } from './beat/beat.js';
export type { BeatOptions, ResolvedBeatOptions } from './beat/beat-options.js';
export { BeatEntries } from './beat/dynamic-entries.js';
export type { BeatEntryInfo } from './beat/dynamic-entries.js';
export { nextDue, slotAfter } from './beat/next-due.js';
export type { DueResult, NextDueOptions } from './beat/next-due.js';
export { crontab, every, solar } from './beat/schedules.js';
export type { CrontabOptions, CrontabSchedule, IntervalSchedule, Schedule, ScheduleInput, SolarSchedule } from './beat/schedules.js';
export type { SolarEvent } from './beat/solar.js';
export type { BeatEntryDefinition, BeatEntryOptions, BeatScheduleObject, MisfirePolicy } from './core/beat-entry.js';
export type { BeatStore, EntryRunState, LeaseAttempt, PublishFence, StoredEntries } from './core/spi/beat-store.js';
export { installShutdownSignals } from './worker/signals.js';
export { Worker } from './worker/worker.js';
export type { CloseOptions, WorkerState } from './worker/worker.js';
export type { ResolvedWorkerOptions, WorkerOptions } from './worker/worker-options.js';
export type { TaskEvent, TaskEventListener, TaskEventType } from './worker/task-events.js';
export type { WorkerRevokeOptions, WorkerRevokeResult } from './worker/worker-revoke.js';
export { ClusterState, TASK_EVENT_STATES } from './monitor/cluster-state.js';
export type { ClusterChange, ClusterStateOptions, TaskRecord, WorkerRecord } from './monitor/cluster-state.js';
export { ControlClient } from './monitor/control-client.js';
export type { BroadcastOptions, ControlClientOptions, NodeReply } from './monitor/control-client.js';
export { EventReceiver } from './monitor/event-receiver.js';
export type { EventListener, EventReceiverOptions } from './monitor/event-receiver.js';
export { registerErrorCodec } from './worker/pools/error-transfer.js';
export type { ErrorCodec } from './worker/pools/error-transfer.js';
export type { PoolKind, PoolStats, TaskPool, TimeLimits } from './worker/pools/types.js';
export type { TimeLimitOverride } from './worker/pools/time-limit-table.js';
