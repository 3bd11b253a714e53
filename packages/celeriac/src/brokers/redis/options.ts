/**
 * @module brokers/redis/options
 * Options of the Redis broker, resolved and checked once (house style §4).
 */
import { systemClock, type Clock } from '../../core/clock.js';
import { resolveSetAsideLimits, type SetAsideQuotaOptions, type SetAsideQuotas } from '../../core/set-aside.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { RedisConnections } from '../../redis/shared-commands.js';
import { resolveReplicaWait, type ReplicaWait } from '../../redis/replicas.js';

/** Options of {@link RedisBroker} (brokers/redis/redis-broker.ts); the set-aside quotas are core/set-aside.ts's. */
export interface RedisBrokerOptions extends SetAsideQuotaOptions {
  /**
   * Source of time: unacked_index scores, leases, ETA due times, set-aside timestamps and
   * every timer of the broker (polls, renewals, sweeps).
   * @default systemClock
   */
  clock?: Clock;
  /**
   * The Sentinel master to ask for, kombu's `master_name` transport option, for a
   * `sentinel://h1:26379;sentinel://h2:26379` URL without `?master_name=` (a name in the URL wins).
   */
  masterName?: string;
  /**
   * The sentinels' own credentials, kombu's `sentinel_kwargs` transport option: `{ password }`
   * for sentinels with `requirepass` (`username` too for an ACL user). The URL's credentials
   * are the master's.
   */
  sentinelKwargs?: Readonly<Record<string, unknown>>;
  /**
   * Celery's `broker_use_ssl` (the app's `brokerUseSsl`): TLS to Redis whatever the URL's
   * scheme, with redis-py's `ssl_*` keys; the URL's own keys win (redis/url.ts).
   */
  useSsl?: boolean | Readonly<Record<string, unknown>>;
  /**
   * kombu's `visibility_timeout`: a delivery NOT held by a Celeriac consumer (a Python
   * worker's, whose score kombu never renews) is taken back only when its unacked_index
   * score is older than this. Use the same value as your Python workers.
   * @default 3600
   */
  visibilityTimeoutSec?: number;
  /**
   * A delivery held by a Celeriac consumer is taken back when its lease was not renewed for
   * this long (its consumer died: kill -9, lost host, frozen event loop).
   * @default 60
   */
  recoverAfterSec?: number;
  /**
   * An early-acked task whose worker stopped advertising its presence (renewed every
   * `leaseRenewMs`, lapsing after 3 periods) for this long is reported lost: the worker that
   * finds it stores FAILURE `WorkerLostError` and sends `task-failed` (running.ts). 0 turns
   * the detection off (nothing is recorded either).
   * @default 300
   */
  lostTaskGraceSec?: number;
  /**
   * How often a broker renews the leases of the deliveries it holds. Must be well below
   * `recoverAfterSec` (at most half of it).
   * @default 5000
   */
  leaseRenewMs?: number;
  /**
   * Where leases are renewed. `'thread'`: from a worker thread with its own connection, fed
   * by the event loop, so a task that blocks the event loop does not lose its message to
   * another worker (lease-keeper.ts); used with the system clock only. `'event-loop'`: on the
   * event loop, as timers (a blocked loop renews nothing).
   * @default 'thread'
   */
  leaseRenewal?: 'thread' | 'event-loop';
  /**
   * How often a consuming broker runs the recovery sweep (expired leases, and Python-held
   * tags older than the visibility timeout); also once when the first consumer starts.
   * @default 5000
   */
  sweepIntervalMs?: number;
  /**
   * Longest idle wait between two fetches when every queue is empty. Messages published by
   * Celeriac reach a waiting consumer at once (a doorbell, or a pub/sub wake-up on Sentinel);
   * ones published by Python producers are seen within this bound. The wait starts at 1 ms
   * after a poll found messages (a producer that rings no doorbell) and doubles up to this.
   * A consumer polls this often only for {@link quietAfterMs} after it starts, after each poll
   * that found messages nobody announced, and (on Sentinel) after a break in its wake-up
   * subscription; otherwise every {@link quietPollIntervalMs}.
   * @default 50
   */
  pollIntervalMs?: number;
  /**
   * The poll of a consumer that has fetched no message of a Python producer for
   * {@link quietAfterMs}: waiting blocked on its queues' doorbells (on Sentinel, subscribed to
   * their wake-up channels), it wakes at once for
   * messages of Celeriac producers and for those the broker moves itself (ETA promotion,
   * recovery, requeues), so the poll is only for a Python producer that starts sending, whose
   * first messages wait up to this long. An idle consumer costs Redis a fraction of its cost
   * at `pollIntervalMs` (docs/production.md). Never shorter than `pollIntervalMs`; set
   * it equal to keep the fast poll for good.
   * @default 1000
   */
  quietPollIntervalMs?: number;
  /**
   * How long after its start, and after the last message it fetched of a producer that rings no
   * doorbell (found by a poll, or with a delivery tag that is not Celeriac's uuid7, as kombu's
   * uuid4), a consumer keeps polling every `pollIntervalMs` before it turns to
   * `quietPollIntervalMs`.
   * @default 600000 (10 minutes)
   */
  quietAfterMs?: number;
  /**
   * The fleet's pace of looks at the delayed set for due ETA messages: each consuming broker
   * looks every this many ms times the number of live ones (jittered by half either way), so
   * together they look about this often; the one broker that claimed the next known due time
   * waits for exactly that time (promote-due.lua). A broker that only publishes looks after its
   * sends as one more of them, or every this many ms while none is live. An ETA message another
   * process sends is noticed about this long after, on average.
   * @default 200
   */
  promoteIntervalMs?: number;
  /**
   * Most messages popped by one fetch (always within the prefetch window). A worker waits
   * for one fetch's reply before the next, so a busy one drains faster with bigger batches.
   * @default 100
   */
  fetchBatchSize?: number;
  /**
   * Longest silence of the command connection while commands wait for replies. Past it
   * they fail with TRANSPORT and the connection is replaced, so a half-dead connection
   * (a frozen server, a peer gone without RST) cannot leave a worker waiting forever.
   * @default 30000
   */
  commandTimeoutMs?: number;
  /**
   * Longest wait for the command connection: its first connect (retried with backoff until
   * then), and a command issued while it reconnects. Past it the call fails with TRANSPORT, so
   * this bounds one attempt of a send under the publish retry policy (core/publish-retry.ts).
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * Keep-alive PING interval of each of the broker's connections; a connection silent for
   * three intervals (a stalled path, also during a reconnect's handshake) is dropped and
   * reconnected, its subscriptions renewed.
   * @default 10000
   */
  pingIntervalMs?: number;
  /**
   * Replicas that must have a sent message before the send is answered: after its writes, the
   * send asks Redis to `WAIT` for that many replicas to acknowledge them. Redis replicates
   * asynchronously, so without it a send the master answered just before it died is lost when
   * a replica is promoted in its place (Sentinel, a managed Redis's failover); with it, such a
   * send fails instead, as a transport error the publish retry policy sends again, to the new
   * master. A message can then arrive twice (its first copy did reach a replica after all):
   * delivery stays at least once. Every send waits for the replicas (about a round trip on one
   * network), and holds the commands behind it on its connection meanwhile (a worker's acks
   * and stores, when it sends). 0 turns it off.
   * @default 0
   */
  waitReplicas?: number;
  /**
   * Longest wait for {@link waitReplicas}: past it the send fails with TRANSPORT (and is retried
   * under the publish retry policy). At least a second below {@link commandTimeoutMs} (a CONFIG
   * error otherwise): a WAIT held past that would have its connection replaced as unresponsive.
   * @default 1000
   */
  waitReplicasTimeoutMs?: number;
  /**
   * Receives connection warnings and errors of the broker's Redis clients.
   * @default errors are dropped (consumers still get them through `onError`)
   */
  log?: TransportLog;
  /**
   * The app's Redis command connections: a Redis result backend of the same app on the same
   * server, database and login, with the same timeouts, then shares the broker's command
   * connection (redis/shared-commands.ts). `createApp` passes its own.
   * @default a connection of the broker's own
   */
  connections?: RedisConnections;
}

/** {@link RedisBrokerOptions} resolved once (`waitReplicas` 0: sends do not wait for replicas). */
export interface ResolvedRedisBrokerOptions extends ReplicaWait {
  readonly clock: Clock;
  readonly visibilityTimeoutMs: number;
  readonly recoverAfterMs: number;
  /** 0 when lost-task detection is off. */
  readonly lostTaskGraceMs: number;
  readonly leaseRenewMs: number;
  /** 'thread' only with the system clock (the thread has no other). */
  readonly leaseRenewal: 'thread' | 'event-loop';
  readonly sweepIntervalMs: number;
  readonly pollIntervalMs: number;
  /** At least pollIntervalMs. */
  readonly quietPollIntervalMs: number;
  readonly quietAfterMs: number;
  readonly promoteIntervalMs: number;
  readonly fetchBatchSize: number;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly log: TransportLog | undefined;
  /** The quotas of the set-aside store's parts (`celeriac.setaside`: malformed messages; `celeriac.deadletters`: dead-lettered tasks). */
  readonly setAside: SetAsideQuotas;
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new CeleriacError(ErrorCodes.CONFIG, `RedisBroker: ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
  }
  return v;
}

function lostTaskGrace(value: number | undefined): number {
  if (value === 0) return 0;
  return positive('lostTaskGraceSec', value, 300) * 1000;
}

/** Checks and freezes the options. @throws CeleriacError CONFIG on a bad value. */
export function resolveRedisBrokerOptions(options: RedisBrokerOptions): ResolvedRedisBrokerOptions {
  const recoverAfterMs = positive('recoverAfterSec', options.recoverAfterSec, 60) * 1000;
  const leaseRenewMs = positive('leaseRenewMs', options.leaseRenewMs, Math.min(5000, recoverAfterMs / 4));
  if (leaseRenewMs > recoverAfterMs / 2) {
    throw new CeleriacError(ErrorCodes.CONFIG, `RedisBroker: leaseRenewMs (${leaseRenewMs}) must be at most half of recoverAfterSec (${recoverAfterMs / 1000} s)`);
  }
  const pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs, 50);
  const commandTimeoutMs = positive('commandTimeoutMs', options.commandTimeoutMs, 30_000);
  const clock = options.clock ?? systemClock;
  const renewal = options.leaseRenewal ?? 'thread';
  if (renewal !== 'thread' && renewal !== 'event-loop') {
    throw new CeleriacError(ErrorCodes.CONFIG, `RedisBroker: leaseRenewal must be 'thread' or 'event-loop', got ${JSON.stringify(renewal)}`);
  }
  return Object.freeze({
    clock,
    leaseRenewal: clock === systemClock ? renewal : 'event-loop',
    visibilityTimeoutMs: positive('visibilityTimeoutSec', options.visibilityTimeoutSec, 3600) * 1000,
    recoverAfterMs,
    lostTaskGraceMs: lostTaskGrace(options.lostTaskGraceSec),
    leaseRenewMs,
    sweepIntervalMs: positive('sweepIntervalMs', options.sweepIntervalMs, 5000),
    pollIntervalMs,
    quietPollIntervalMs: Math.max(pollIntervalMs, positive('quietPollIntervalMs', options.quietPollIntervalMs, 1000)),
    quietAfterMs: positive('quietAfterMs', options.quietAfterMs, 600_000),
    promoteIntervalMs: positive('promoteIntervalMs', options.promoteIntervalMs, 200),
    fetchBatchSize: positive('fetchBatchSize', options.fetchBatchSize, 100, true),
    commandTimeoutMs,
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, 10_000),
    pingIntervalMs: positive('pingIntervalMs', options.pingIntervalMs, 10_000),
    ...resolveReplicaWait('RedisBroker', options, commandTimeoutMs),
    log: options.log,
    setAside: resolveSetAsideLimits(options, 'RedisBroker'),
  });
}
