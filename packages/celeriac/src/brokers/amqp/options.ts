/**
 * @module brokers/amqp/options
 * The options of the RabbitMQ broker (amqp-broker.ts); `createApp` fills them from the app's
 * settings and `brokerTransportOptions` (transports.ts).
 */
import type { Clock } from '../../core/clock.js';
import type { QueueTopology } from '../../core/queue-topology.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { AmqpUseSsl } from '../../amqp/url.js';
import type { AmqpLoginMethod } from '../../amqp/session.js';
import { describeGiven } from '../../core/option-names.js';
import type { SetAsideQuotaOptions } from '../../core/set-aside.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';

/**
 * Options of the RabbitMQ broker (`AmqpBroker`). The set-aside bounds (`setAsideMaxCount`,
 * `setAsideMaxBytes`, `deadLetterMaxCount`, `deadLetterMaxBytes`) are the two set-aside
 * queues' `x-max-length` and `x-max-length-bytes` (set-aside-queues.ts).
 */
export interface AmqpBrokerOptions extends Omit<SetAsideQuotaOptions, 'setAsideMaxRecordBytes'> {
  /** Where connection trouble no caller waits on is reported. @default console.warn */
  log?: TransportLog;
  /** Reads the time of due times (ETA, countdown, redelivery backoff). @default systemClock */
  clock?: Clock;
  /**
   * `x-max-priority` of every task queue this broker declares: Celery's
   * `task_queue_max_priority`. Must equal the Python side's, or RabbitMQ refuses the
   * declaration (406). null: queues without priorities (FIFO), Celery's default.
   * @default null
   */
  queueMaxPriority?: number | null;
  /** Longest wait for a lost connection, counted from when it went down; past it operations fail at once. @default 30000 */
  connectWaitMs?: number;
  /**
   * Longest wait for a reply from RabbitMQ, a publish's confirm or an operation's answer (a
   * declaration, a purge, a channel open), before the connection is given up as dead: the
   * publish is sent again and the declaration made again on a new one. Not while RabbitMQ has
   * blocked the connection (a memory or disk alarm holds replies back). Without it a link that
   * silently drops what is sent is noticed only by the heartbeat, up to three intervals later
   * (six minutes at the default 120 s). The `rpc://` backend's connection has the same bound.
   * @default 30000
   */
  replyTimeoutMs?: number;
  /** Shown in RabbitMQ's connection list. @default 'celeriac' */
  connectionName?: string;
  /**
   * Celery's `broker_use_ssl` (the app's `brokerUseSsl`): TLS whatever the URL's scheme, port
   * 5671 when the URL names none; `true`, or py-amqp's keys `ca_certs`, `certfile`, `keyfile`,
   * `cert_reqs`, `server_hostname` (amqp/url.ts).
   * @default false: as the URL says
   */
  useSsl?: AmqpUseSsl;
  /**
   * How to log in, Celery's `broker_login_method` (the app's `brokerLoginMethod`): `PLAIN` or
   * `AMQPLAIN` with the URL's user and password, `EXTERNAL` with `useSsl`'s client certificate.
   * @default PLAIN
   */
  loginMethod?: AmqpLoginMethod;
  /**
   * How task queues are declared: queue types, exchange types, per-queue arguments (the app's
   * `taskDefaultQueueType`, `taskQueues`, ...). With any quorum queue, delayed delivery uses
   * kombu's `celery_delayed_*` ladder and consumers per-consumer prefetch.
   * @default classic queues on direct exchanges
   */
  queues?: QueueTopology;
}

/** RabbitMQ's highest `x-max-priority`. */
const MAX_PRIORITY_LIMIT = 255;

/**
 * `queueMaxPriority` checked (null when absent): unchecked, 1000 failed every declaration with
 * a 406. (`connectWaitMs` and `replyTimeoutMs` are checked by the session.) @throws CeleriacError CONFIG
 */
export function checkedMaxPriority(options: AmqpBrokerOptions): number | null {
  const priority = options.queueMaxPriority ?? null;
  if (priority !== null && !(Number.isInteger(priority) && priority >= 0 && priority <= MAX_PRIORITY_LIMIT)) {
    throw new CeleriacError(ErrorCodes.CONFIG, `queueMaxPriority must be a whole number from 0 to ${MAX_PRIORITY_LIMIT} (RabbitMQ's x-max-priority), or null, got ${describeGiven(priority)}`);
  }
  return priority;
}
