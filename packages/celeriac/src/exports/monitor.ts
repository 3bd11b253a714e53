/**
 * Watching a cluster from outside, as `celery events`, `celery inspect` and Flower do: the
 * event receiver, the pure cluster-state reducer, the remote-control client, and the task
 * state model every reader decides with (protocol/states).
 *
 * @module celeriac/monitor
 */
export { EventReceiver } from '../monitor/event-receiver.js';
export type { EventListener, EventReceiverOptions } from '../monitor/event-receiver.js';
export { ClusterState, TASK_EVENT_STATES } from '../monitor/cluster-state.js';
export type { ClusterChange, ClusterStateOptions, EventDict, TaskRecord, WorkerRecord } from '../monitor/cluster-state.js';
export { BrokerUnreachableError, ControlClient } from '../monitor/control-client.js';
export type { BroadcastOptions, ControlClientOptions, NodeReply } from '../monitor/control-client.js';
export {
  applyFact,
  canBeLost,
  CUSTOM_STATE_RANK,
  FINAL_RANK_MAX,
  foldTaskState,
  LOSABLE_RANKS,
  LOST_STATE,
  mergeState,
  STATE_RANKS,
  stateOfEvent,
  statePrecedence,
  taskEventOrder,
} from '../protocol/states.js';
export type { TaskFact } from '../protocol/states.js';
// The Python repr events carry (args, kwargs, result): readers of stored results print them alike,
// and answer it for a stored value JSON cannot write.
export { jsonSafe, jsonText, pyRepr } from '../protocol/repr.js';
// JSON read as a Celery peer writes it: an integer past 2**53 stays exact (a bigint), as for a
// dashboard's send-task body.
export { parsePyJson } from '../protocol/py-json.js';
// The OpenTelemetry meter a monitor records with (undefined when no MeterProvider is registered).
export { activeMeter } from '../core/otel.js';
// The ETA / countdown tasks a broker holds, decoded for monitors (the dashboard).
export { delayedTaskOf, readDelayedTasks } from '../monitor/delayed-tasks.js';
export type { DelayedTask, DelayedTasks } from '../monitor/delayed-tasks.js';
