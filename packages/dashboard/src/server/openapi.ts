/**
 * @module server/openapi
 * The OpenAPI 3.1 document of the dashboard's HTTP API (`GET /api/openapi.json`): Flower's
 * routes and the dashboard's own. Parameters are listed as Flower reads them (query string or
 * form body, interchangeably).
 */

interface Param {
  readonly name: string;
  readonly in?: 'query' | 'path';
  readonly type?: 'string' | 'integer' | 'number' | 'boolean';
  readonly doc: string;
  readonly required?: boolean;
}

interface Op {
  readonly method: 'get' | 'post';
  readonly path: string;
  readonly tag: string;
  readonly summary: string;
  readonly params?: readonly Param[];
  readonly action?: boolean;
  readonly json?: boolean;
  readonly responses?: Readonly<Record<string, string>>;
}

const worker: Param = { name: 'name', in: 'path', doc: 'worker node name', required: true };
const id: Param = { name: 'id', in: 'path', doc: 'task id', required: true };
const taskname: Param = { name: 'name', in: 'path', doc: 'task name', required: true };
const TASK_FILTERS: readonly Param[] = [
  { name: 'state', doc: 'state; repeat or comma-separate for several; `All` = any' },
  { name: 'taskname', doc: 'exact task name' },
  { name: 'workername', doc: 'exact worker node name' },
  { name: 'queue', doc: 'queue name' },
  { name: 'received_start', doc: '`YYYY-MM-DD HH:MM` (UTC), ISO-8601 or epoch seconds' },
  { name: 'received_end', doc: 'as received_start' },
  { name: 'started_start', doc: 'as received_start, on the start time' },
  { name: 'started_end', doc: 'as received_start, on the start time' },
  { name: 'runtime_min', type: 'number', doc: 'seconds' },
  { name: 'runtime_max', type: 'number', doc: 'seconds' },
  { name: 'search', doc: 'the search language (docs/dashboard.md): `AND`, `OR`, `NOT`, quoted phrases, `kwargs.user_id:42`, `args:"foo"`, `result:`, `exception:`' },
  { name: 'sort_by', doc: 'name, state, received, started, timestamp, runtime, succeeded or worker; `-` prefix for descending' },
  { name: 'offset', type: 'integer', doc: 'rows to skip (after `after` when given)' },
  { name: 'after', doc: 'a cursor from the previous page (`next_cursor`, header x-next-cursor): the page starts after its last task, in the same sort_by; the count then counts from it' },
];

const OPS: readonly Op[] = [
  { method: 'get', path: '/healthcheck', tag: 'ops', summary: 'Liveness: `OK`. Never authenticated.' },
  { method: 'get', path: '/readyz', tag: 'ops', summary: 'Readiness: 200 when the broker answers, events flow and the store answers and writes; else 503. Never authenticated; only a caller who may read the API gets the checks, others `{ready}`.' },
  { method: 'get', path: '/metrics', tag: 'ops', summary: "Prometheus metrics: Flower's series plus flower_queue_length, flower_queue_age_seconds, flower_tasks_by_state, flower_stuck_tasks, the broker's set-aside store (celeriac_setaside_records, celeriac_setaside_bytes by category), failed logins and the process_* series. Never authenticated." },
  { method: 'get', path: '/api/config', tag: 'ops', summary: 'The UI config of the caller: urlPrefix, readOnly, role, user, csrfToken, csrfHeader, timezone, traceUrl (the --trace-url template or null), version, broker (password masked), auth (the mode) and anonymousApi.' },
  { method: 'post', path: '/logout', tag: 'ops', summary: 'Ends the caller\'s browser session for good and deletes its cookie.' },
  { method: 'get', path: '/api/audit', tag: 'ops', summary: 'The last audited actions (admins only).' },
  { method: 'get', path: '/workers', tag: 'workers', summary: "Flower's workers table with `json=1`: `{data: [row]}`; rows add status, heartbeat_age, offline_at, inspect_age (seconds per inspect method).", params: [{ name: 'json', type: 'boolean', doc: '1 for JSON' }] },
  { method: 'get', path: '/api/workers', tag: 'workers', summary: "Inspect data by worker (Flower's shape: stats, active_queues, registered, scheduled, active, reserved, revoked, conf, timestamp).", params: [{ name: 'refresh', type: 'boolean', doc: 're-inspect first (503 on failure)' }, { name: 'workername', doc: 'one worker (404 if unknown)' }, { name: 'status', type: 'boolean', doc: '`{worker: online}` from events' }] },
  { method: 'post', path: '/api/worker/shutdown/{name}', tag: 'workers', summary: 'Shut a worker down.', params: [worker], action: true },
  { method: 'post', path: '/api/worker/pool/restart/{name}', tag: 'workers', summary: "Restart a worker's pool (403 when it refuses).", params: [worker], action: true },
  { method: 'post', path: '/api/worker/pool/grow/{name}', tag: 'workers', summary: 'Grow the pool by n.', params: [worker, { name: 'n', type: 'integer', doc: 'default 1' }], action: true },
  { method: 'post', path: '/api/worker/pool/shrink/{name}', tag: 'workers', summary: 'Shrink the pool by n.', params: [worker, { name: 'n', type: 'integer', doc: 'default 1' }], action: true },
  { method: 'post', path: '/api/worker/pool/autoscale/{name}', tag: 'workers', summary: 'Set autoscale bounds.', params: [worker, { name: 'min', type: 'integer', doc: 'required', required: true }, { name: 'max', type: 'integer', doc: 'required', required: true }], action: true },
  { method: 'post', path: '/api/worker/queue/add-consumer/{name}', tag: 'workers', summary: 'Consume from a queue.', params: [worker, { name: 'queue', doc: 'queue name', required: true }], action: true },
  { method: 'post', path: '/api/worker/queue/cancel-consumer/{name}', tag: 'workers', summary: 'Stop consuming from a queue.', params: [worker, { name: 'queue', doc: 'queue name', required: true }], action: true },
  { method: 'post', path: '/api/task/apply/{name}', tag: 'tasks', summary: 'Send a task and wait for its result: `{task-id, state, result[, traceback]}`. JSON body `{args, kwargs, ...options}`.', params: [taskname], action: true, json: true },
  { method: 'post', path: '/api/task/async-apply/{name}', tag: 'tasks', summary: 'Send a task: `{task-id, state}`.', params: [taskname], action: true, json: true },
  { method: 'post', path: '/api/task/send-task/{name}', tag: 'tasks', summary: 'Send a task by name, any language: `{task-id, state}`.', params: [taskname], action: true, json: true },
  { method: 'get', path: '/api/task/result/{id}', tag: 'tasks', summary: 'A result from the backend: `{task-id, state[, result, traceback]}`; with timeout, waits up to that many seconds and then answers the current state.', params: [id, { name: 'timeout', type: 'number', doc: 'seconds' }] },
  { method: 'post', path: '/api/task/abort/{id}', tag: 'tasks', summary: 'Abort (AbortableTask): stores ABORTED.', params: [id], action: true },
  { method: 'post', path: '/api/task/revoke/{id}', tag: 'tasks', summary: 'Revoke a task.', params: [id, { name: 'terminate', type: 'boolean', doc: 'default false' }, { name: 'signal', doc: 'default SIGTERM' }], action: true },
  { method: 'post', path: '/api/task/timeout/{name}', tag: 'tasks', summary: "Set a task's time limits on a worker.", params: [taskname, { name: 'workername', doc: 'required', required: true }, { name: 'soft', type: 'number', doc: 'seconds' }, { name: 'hard', type: 'number', doc: 'seconds' }], action: true },
  { method: 'post', path: '/api/task/rate-limit/{name}', tag: 'tasks', summary: "Set a task's rate limit on a worker.", params: [taskname, { name: 'workername', doc: 'required', required: true }, { name: 'ratelimit', doc: 'e.g. 10/m', required: true }], action: true },
  { method: 'get', path: '/api/task/info/{id}', tag: 'tasks', summary: "Flower's task dict (404, empty body, when unknown).", params: [id] },
  { method: 'get', path: '/api/task/types', tag: 'tasks', summary: '`{task-types: [name]}`.' },
  { method: 'get', path: '/api/tasks', tag: 'tasks', summary: "Tasks keyed by uuid, in order (Flower's shape). Headers x-total-count and x-total-exact give the match count (x-total-estimated: true when it is the planner's estimate), x-next-cursor the next page's `after`. Without limit, at most 10000 rows. Bad search: 400 {error}.", params: [...TASK_FILTERS, { name: 'limit', type: 'integer', doc: 'rows' }] },
  { method: 'get', path: '/api/tasks/search', tag: 'dashboard', summary: 'One page of tasks: `{total, total_exact, total_estimated, next_cursor, offset, limit, tasks: [task dict + queue, truncated]}`.', params: [...TASK_FILTERS, { name: 'limit', type: 'integer', doc: '1..1000, default 50' }] },
  { method: 'get', path: '/api/queues/length', tag: 'tasks', summary: '`{active_queues: [{name, messages}]}`.' },
  { method: 'get', path: '/api/task/detail/{id}', tag: 'dashboard', summary: 'A task with its event timeline and children: `{task, truncated, events: [{type, timestamp, hostname, fields}], children}`.', params: [id] },
  { method: 'get', path: '/api/task/workflow/{id}', tag: 'dashboard', summary: "The tree of the task's workflow (every task linked to it by root, parent or group id, transitively): `{root_id, group_id, truncated, count, tree: [{task, group_id, children}]}`.", params: [id, { name: 'limit', type: 'integer', doc: 'max tasks, default 1000, at most 5000' }] },
  { method: 'post', path: '/api/task/rerun/{id}', tag: 'dashboard', summary: 'Send the task again with the same arguments (409 when they were truncated): `{task-id, rerun-of, name}` (never the arguments).', params: [id], action: true },
  { method: 'post', path: '/api/task/revoke-workflow/{id}', tag: 'dashboard', summary: "Revoke every unfinished task of the task's workflow (group, chord, chain): `{message, revoked: [id]}`.", params: [id, { name: 'terminate', type: 'boolean', doc: 'default false' }, { name: 'signal', doc: 'default SIGTERM' }], action: true },
  { method: 'post', path: '/api/tasks/revoke', tag: 'dashboard', summary: 'Revoke (or terminate) the chosen tasks at once, at most 1000: `{message, revoked: [id]}`. Ids as repeated `id` parameters or a JSON body `{"ids": [...], "terminate": true}`.', params: [{ name: 'id', doc: 'a task id; repeat it' }, { name: 'terminate', type: 'boolean', doc: 'default false' }, { name: 'signal', doc: 'default SIGTERM' }], action: true },
  { method: 'get', path: '/api/broker', tag: 'dashboard', summary: 'Broker (password masked) and queues: `{broker, transport, error, queues: [{name, messages, priorities: {0,3,6,9}|null, age, consumers: [worker]}]}`; `age`: seconds the oldest ready message with a known send time has waited (sent by Celeriac: Redis, RabbitMQ classic queues), else null.' },
  { method: 'get', path: '/api/broker/delayed', tag: 'dashboard', summary: 'ETA / countdown tasks the broker holds for later delivery (Redis: `celeriac.delayed`; RabbitMQ: the delay queues, browsed), earliest first: `{transport, supported, total, complete, error, tasks: [{uuid, name, queue, eta, deliver_at, priority, args, kwargs}]}`; `total` counts every queue\'s (null when the broker does not count them), `complete` says whether `tasks` lists them all.', params: [{ name: 'limit', type: 'integer', doc: 'most tasks listed (1-500, default 100)' }] },
  { method: 'post', path: '/api/broker/purge/{queue}', tag: 'dashboard', summary: 'Delete every waiting message of a queue, its delayed (ETA/countdown) ones included: `{message, purged, delayed}` (`delayed`: how many of them were delayed, null when the broker does not count them apart).', params: [{ name: 'queue', in: 'path', doc: 'queue name', required: true }], action: true },
  { method: 'get', path: '/api/beat', tag: 'dashboard', summary: 'Beat entries: `{entries: [{name, task, args, kwargs, options, schedule, source, paused, last_run_at, total_run_count, next_run_at}]}` (epoch seconds).' },
  { method: 'post', path: '/api/beat/pause/{name}', tag: 'dashboard', summary: 'Pause a beat entry.', params: [{ name: 'name', in: 'path', doc: 'entry', required: true }], action: true },
  { method: 'post', path: '/api/beat/resume/{name}', tag: 'dashboard', summary: 'Resume a beat entry.', params: [{ name: 'name', in: 'path', doc: 'entry', required: true }], action: true },
  { method: 'post', path: '/api/beat/run/{name}', tag: 'dashboard', summary: "Send a beat entry's task now: `{message, task-id}`.", params: [{ name: 'name', in: 'path', doc: 'entry', required: true }], action: true },
  { method: 'get', path: '/api/overview', tag: 'dashboard', summary: 'Overview series: `{now, workers: {online, offline}, tasks_by_state, points: [{t, succeeded, failed, p50, p95, p99}], queue_depth: [{t, queues}], events}`; one point per second, 15 minutes.', params: [{ name: 'since', type: 'integer', doc: 'epoch seconds' }] },
  { method: 'get', path: '/api/live', tag: 'dashboard', summary: 'Server-sent events: hello, task (task dict), worker (workers-table row), worker-gone, lost, inspect, stats, queues, resync.' },
];

/** The document. */
export function openApiDocument(urlPrefix: string, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPS) {
    const responses: Record<string, unknown> = { 200: { description: 'OK' }, 401: { description: 'No or wrong credentials (or anonymous API without FLOWER_UNAUTHENTICATED_API)' } };
    if (op.action === true) responses['403'] = { description: 'Read-only mode, viewer role, missing CSRF token, or the worker refused' };
    if (op.params?.some((p) => p.in === 'path') === true) responses['404'] = { description: 'Unknown worker, task or entry' };
    const entry: Record<string, unknown> = {
      tags: [op.tag],
      summary: op.summary,
      parameters: (op.params ?? []).map((p) => ({ name: p.name, in: p.in ?? 'query', required: p.in === 'path' || p.required === true, description: p.doc, schema: { type: p.type ?? 'string' } })),
      responses,
    };
    if (op.path === '/healthcheck' || op.path === '/metrics' || op.path === '/readyz') entry['security'] = [];
    if (op.json === true) entry['requestBody'] = { content: { 'application/json': { schema: { type: 'object', properties: { args: { type: 'array' }, kwargs: { type: 'object' } }, additionalProperties: true } } } };
    (paths[op.path] ??= {})[op.method] = entry;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Celeriac dashboard API', version, description: "Flower 2's HTTP API (same paths, parameters, status codes and keys) plus the dashboard's own endpoints. Actions need the admin role and, from a browser, the x-csrf-token header." },
    servers: [{ url: urlPrefix === '' ? '/' : urlPrefix }],
    components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ basic: [] }, { bearer: [] }],
    paths,
  };
}
