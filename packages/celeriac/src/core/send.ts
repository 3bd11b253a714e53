/**
 * @module core/send
 * The one way this process sends built task messages: `delay`/`applyAsync`/`sendTask`,
 * `sendTasks`/`applyAsyncMany` (and the canvas through them), a task's retry and beat's
 * entries. Every send passes the same steps in the same order, as Celery's `send_task` does:
 * `beforeTaskPublish`, the publish under the publish retry policy (the result backend readied
 * first when a result is wanted, so an rpc:// reply queue exists before the task can end),
 * `afterTaskPublish`, then `task-sent` for each message when `taskSendSentEvent` is on. With
 * a tracer provider registered the publish runs under one PRODUCER span per message
 * (core/otel.ts), its context written in the message's headers.
 */
import type { Logger } from 'pino';
import type { ApplyOptions } from './call-options.js';
import type { Clock } from './clock.js';
import { publishTask, publishTasks, type OutgoingTask, type PublishCarrier } from './producer.js';
import { tracePublish } from './otel.js';
import { afterPublish, beforePublish } from './publish-signals.js';
import { mergeRetryPolicy, publishWithRetry, type PublishRetryContext, type ResolvedPublishRetryPolicy } from './publish-retry.js';
import { sendTaskSentEvent } from './sent-event.js';
import type { ResolvedSettings } from './settings.js';
import type { Signals } from './signals.js';
import type { ResultBackend } from './spi/backend.js';
import type { Broker, PublishOptions } from './spi/broker.js';

/** What a send needs from the app. */
export interface SendHost {
  readonly settings: ResolvedSettings;
  readonly broker: Broker;
  readonly backend: ResultBackend;
  readonly clock: Clock;
  readonly signals: Signals;
  readonly log: Logger;
}

/** How one send is made. */
export interface SendOptions {
  /** Names the send in errors and logs, e.g. `send task proj.add[<id>]`. */
  readonly what: string;
  /** The call options of the messages (their `retry`/`retryPolicy`). @default [] (the settings' policy) */
  readonly calls?: readonly ApplyOptions[];
  /** Makes a single message's publish conditional (beat's lease). */
  readonly fence?: PublishOptions['fence'];
  /** A single message's publish behind its result's subscription, when its sender waits (core/early-wait.ts). */
  readonly early?: PublishCarrier;
}

/** The settings' own policy, resolved once per settings object (sends are a hot path). */
const settingsPolicies = new WeakMap<ResolvedSettings, ResolvedPublishRetryPolicy>();

/**
 * The publish retry policy of calls with these options, or null when retry is off: none if
 * any call sets `retry: false`, else `taskPublishRetryPolicy` with each call's `retryPolicy`
 * merged over it in order.
 */
export function publishRetryPolicy(settings: ResolvedSettings, calls: readonly ApplyOptions[]): ResolvedPublishRetryPolicy | null {
  let policy = settingsPolicies.get(settings);
  if (policy === undefined) settingsPolicies.set(settings, (policy = mergeRetryPolicy(settings.taskPublishRetryPolicy, undefined)));
  for (const o of calls) if (o.retryPolicy !== undefined) policy = mergeRetryPolicy(policy, o.retryPolicy);
  const off = calls.length === 0 ? !settings.taskPublishRetry : calls.some((o) => (o.retry ?? settings.taskPublishRetry) === false);
  return off ? null : policy;
}

/**
 * Sends built messages: signals, publish with retry, `task-sent`. Not atomic for several
 * messages: if publishing fails part-way some may have been sent, and a retried publish may
 * send some twice (at-least-once, as Celery).
 *
 * Written as a promise chain rather than nested async frames: a step with nothing to do (no
 * signal handler, no tracer, no `task-sent`) adds no frame, and one-by-one `delay()` is the
 * hot path of a producer (bench: enqueue one-by-one).
 * @throws PublishError once the retry policy is spent; other publish errors as they are.
 */
export function sendMessages(host: SendHost, outs: readonly OutgoingTask[], options: SendOptions): Promise<void> {
  const before = beforePublish(host.signals, outs);
  if (before !== undefined) return before.then(() => publishAndAnnounce(host, outs, options));
  try {
    return publishAndAnnounce(host, outs, options);
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

function publishAndAnnounce(host: SendHost, outs: readonly OutgoingTask[], options: SendOptions): Promise<void> {
  // Resolved before anything is sent: a call's bad retryPolicy fails the send up front.
  const policy = publishRetryPolicy(host.settings, options.calls ?? []);
  // With a tracer provider registered, each message is published under its PRODUCER span.
  const published = tracePublish(outs, () => publishWithRetry(() => publishOnce(host, outs, options), () => retryContext(host, options.what, policy)));
  return published.then(() => announce(host, outs));
}

/** How a failed publish is retried, and told about: built only once a publish failed. */
function retryContext(host: SendHost, what: string, policy: ResolvedPublishRetryPolicy | null): PublishRetryContext {
  return {
    what,
    policy,
    clock: host.clock,
    onRetry: (err, retry, delaySec) => {
      const of = policy?.maxRetries === null ? '' : `/${String(policy?.maxRetries)}`;
      host.log.warn({ err, retry, delaySec }, `${what}: broker unreachable (${err.message}); retry ${retry}${of} in ${delaySec} s`);
    },
  };
}

/** One publish attempt: the result backend readied first when a result is wanted (rpc://). */
function publishOnce(host: SendHost, outs: readonly OutgoingTask[], options: SendOptions): Promise<void> {
  const { backend } = host;
  if (backend.beforePublish !== undefined && outs.some((out) => !out.message.headers.ignore_result)) return backend.beforePublish().then(() => publishAll(host, outs, options));
  return publishAll(host, outs, options);
}

function publishAll(host: SendHost, outs: readonly OutgoingTask[], options: SendOptions): Promise<void> {
  return outs.length === 1 ? publishTask(host.broker, outs[0]!, options.fence === undefined ? undefined : { fence: options.fence }, options.early) : publishTasks(host.broker, outs);
}

/** `afterTaskPublish`, then `task-sent` per message when `taskSendSentEvent` is on; nothing to wait for without either. */
function announce(host: SendHost, outs: readonly OutgoingTask[]): Promise<void> | undefined {
  const after = afterPublish(host.signals, outs);
  if (!host.settings.taskSendSentEvent) return after;
  const sent = async (): Promise<void> => {
    for (const out of outs) await sendTaskSentEvent(host.broker, host.clock, out, (err) => host.log.warn({ err }, 'could not send task-sent event'));
  };
  return after === undefined ? sent() : after.then(sent);
}
