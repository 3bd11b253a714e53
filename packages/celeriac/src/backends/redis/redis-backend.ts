/**
 * @module backends/redis/redis-backend
 * Celery's Redis result backend (docs/protocol.md §3), readable and writable by Python
 * Celery on the same Redis: `celery-task-meta-<id>` written with SET (+ TTL) and PUBLISHed on
 * the key name, groups under `celery-taskset-meta-<gid>`, MGET for many ids. It plays every
 * backend role (core/spi/backend.ts): results and groups here, the chord join in chord.ts,
 * revocations and cluster rate tokens in revocations.ts, running-task records (for brokers
 * that keep none) in running-tasks.ts.
 */
import { randomUUID } from 'node:crypto';
import { decodeResultMeta, encodeGroupMeta, encodeResultMeta, isResultTuple } from '../../protocol/result.js';
import { ProtocolError } from '../../protocol/errors.js';
import type {
  ChordJoinState,
  ChordJoinStore,
  ChordPart,
  GroupStore,
  RateTokenStore,
  ResultBackend,
  RevocationStore,
  RevokedEntry,
  RevokeNotice,
  RevokeOptions,
  StoreOptions,
  CarriedPublish,
  SubscribedPublish,
  Unsubscribe,
} from '../../core/spi/backend.js';
import type { LostDelivery } from '../../core/spi/broker.js';
import type { RunningTask, RunningTaskStore } from '../../core/spi/running-tasks.js';
import * as chord from './chord.js';
import type { GroupMeta, ResultMeta } from '../../protocol/types.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { serverIdentity } from '../../redis/url.js';
import { resolveOptions, type RedisBackendOptions, type ResolvedRedisBackendOptions } from './options.js';

export type { RedisBackendOptions, ResolvedRedisBackendOptions } from './options.js';
import { IDLE_PING_INTERVALS, type RedisClient } from '../../redis/client.js';
import { transientReply } from '../../redis/error-kind.js';
import { confirmReplicated, replicaWarning } from '../../redis/replicas.js';
import { ownCommandConnection, TURN_RANKS, type CommandConnection } from '../../redis/shared-commands.js';
import { LazyRedisClient } from '../../redis/lazy-client.js';
import { loadScript, runScript } from '../../redis/script.js';
import { TickBatch } from '../../redis/tick-batch.js';
import { BackendKeys } from '../../redis/keys.js';
import { ResultSubscriptions } from './result-subscriptions.js';
import { watchResubscribes } from './resubscribe-watch.js';
import * as revocations from './revocations.js';
import { RedisRunningTasks } from './running-tasks.js';
import type { PresenceKeeper } from '../../redis/presence-keeper.js';

const STORE_METAS = loadScript(new URL('./scripts/store-metas.lua', import.meta.url));

/** Lifecycle of a {@link RedisBackend}: usable until closed, never reopened. */
export type RedisBackendState = 'open' | 'closed';


/** A meta waiting for its turn's store-metas.lua call. */
interface PendingStore {
  readonly id: string;
  readonly key: string;
  readonly text: string;
  /** Milliseconds as text, or '' for no expiry. */
  readonly ttl: string;
}

/**
 * store-metas.lua's keys and arguments for a batch. A leaf function: with this loop in
 * #storeMany, V8 optimized that method, send path inlined, although it runs once per batch.
 */
function storeMetasCall(batch: readonly PendingStore[]): { keys: string[]; args: string[] } {
  const keys: string[] = [];
  const args: string[] = [];
  for (const s of batch) {
    keys.push(s.key);
    args.push(s.text, s.ttl);
  }
  return { keys, args };
}

/** What a stored batch resolves its callers with. */
const NO_RESULTS: readonly void[] = [];

/** Milliseconds for a positive `expiresSec`, null for null; INVALID_ARGUMENT otherwise. */
function ttlMs(expiresSec: number | null): number | null {
  return expiresSec === null ? null : positiveMs(expiresSec);
}

function positiveMs(expiresSec: number): number {
  if (typeof expiresSec !== 'number' || !Number.isFinite(expiresSec) || expiresSec <= 0) {
    throw new CeleriacError(
      ErrorCodes.INVALID_ARGUMENT,
      `expiresSec must be a positive number of seconds or null, got ${String(expiresSec)}`,
    );
  }
  return Math.max(1, Math.round(expiresSec * 1000));
}

function decodeGroupMeta(text: string): GroupMeta {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('bad-json', 'Group meta is not valid JSON', { cause });
  }
  const result = (parsed as { result?: unknown } | null)?.result;
  if (typeof parsed !== 'object' || parsed === null || !isResultTuple(result)) {
    throw new ProtocolError('bad-body', 'Group meta is not {"result": [[gid, null], [...]]}');
  }
  return { result };
}

/**
 * A {@link ResultBackend} on Redis, byte-compatible with Celery's. Connects lazily on first
 * use; a second connection is opened for pub/sub on the first `subscribe`. Every Redis
 * failure surfaces as CeleriacError TRANSPORT; see redis/client.ts for reconnects.
 */
export class RedisBackend implements ResultBackend, GroupStore, ChordJoinStore, RevocationStore, RateTokenStore, RunningTaskStore {
  /** Adapter name. */
  readonly kind = 'redis';
  /** The resolved options. */
  readonly options: ResolvedRedisBackendOptions;
  readonly #keys: BackendKeys;
  /** Its command connection (shared with the app's broker on the same server). */
  readonly #commands: CommandConnection;
  readonly #subscriber: LazyRedisClient;
  /** Stores issued in one event-loop turn go out as one store-metas.lua call, before the turn's acks on a shared connection. */
  readonly #stores: TickBatch<PendingStore, void>;
  readonly #subscriptions: ResultSubscriptions;
  readonly #running: RedisRunningTasks;
  #state: RedisBackendState = 'open';
  /** Its server's identity, as the app's Redis broker compares it (ResultStore.publishSubscribed). */
  readonly #server: string;

  /** @throws CeleriacError CONFIG for a bad URL. */
  constructor(options: RedisBackendOptions = {}) {
    this.options = resolveOptions(options);
    this.#keys = new BackendKeys(this.options.keyPrefix, this.options.target.db);
    this.#server = serverIdentity(this.options.target);
    this.#running = new RedisRunningTasks((w, fn) => this.#run(w, fn), this.#keys);
    const clientOptions = {
      log: this.options.log,
      connectTimeoutMs: this.options.connectTimeoutMs,
      offlineQueueTimeoutMs: this.options.offlineQueueTimeoutMs,
      pingIntervalMs: this.options.pingIntervalMs,
    };
    const commandOptions = { ...clientOptions, name: 'celeriac-backend', commandTimeoutMs: this.options.commandTimeoutMs, idleTimeoutMs: IDLE_PING_INTERVALS * this.options.pingIntervalMs };
    // Shared with the app's Redis broker on the same server (redis/shared-commands.ts): a
    // task's ack and its result then go out in one write.
    this.#commands = options.connections?.acquire(this.options.target, commandOptions) ?? ownCommandConnection(this.options.target, commandOptions);
    this.#stores = new TickBatch((batch) => this.#storeMany(batch), undefined, { turn: this.#commands.turn, rank: TURN_RANKS.resultStores });
    this.#subscriber = new LazyRedisClient(
      this.options.target,
      // Idle = a dead path, handshake included: node-redis reconnects it and subscribes again.
      // RESP3 where it can (publishSubscribed: publishes on a ready connection, no offline-queue timers).
      { ...clientOptions, name: 'celeriac-backend-sub', idleTimeoutMs: IDLE_PING_INTERVALS * this.options.pingIntervalMs, resp3: this.options.target.sentinel === undefined, subscriberOnly: this.options.target.sentinel !== undefined, offlineQueueTimeoutMs: null },
      (client) =>
        watchResubscribes(client, {
          sentinel: this.options.target.sentinel !== undefined,
          probeChannel: () => (this.#subscriptions.channels().length === 0 ? undefined : this.#keys.taskMeta(`resubscribed-${randomUUID()}`)),
          renew: () => this.#subscriptions.renew(),
          reread: () => this.#redeliver(),
        }),
    );
    this.#subscriptions = new ResultSubscriptions(this.#subscriber, this.options.log);
  }

  /** 'open' until {@link RedisBackend.close}. */
  get state(): RedisBackendState {
    return this.#state;
  }

  /** Opens the command connection (idempotent). */
  async connect(): Promise<void> {
    this.#assertOpen('connect');
    await this.#commands.connect();
  }

  /** Whether its command connection is known to be down now (ResultStore.offline). */
  offline(): boolean {
    return this.#commands.offline;
  }

  /** Why its command connection fails now, while it does (ResultStore.connectProblem). */
  connectProblem(): string | null {
    return this.#commands.client.failure;
  }

  /**
   * What an operator should hear of at worker start (ResultStore.serverWarnings): with
   * `waitReplicas`, fewer replicas connected than it asks for. Nothing where INFO fails.
   */
  async serverWarnings(): Promise<string[]> {
    if (this.options.waitReplicas === 0) return [];
    const info = await this.#run('read replication', (c) => c.info('replication')).catch(() => '');
    const warning = replicaWarning(info, this.options, 'result backend', `${this.options.target.host}:${this.options.target.port}`);
    return warning === null ? [] : [warning];
  }

  /** Quits both connections and drops every subscription; the subscriber waits only for the publishes it carries. Idempotent. */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#subscriptions.clear();
    await Promise.all([this.#commands.release(), this.#subscriber.close(this.#subscriptions.carrying ? undefined : 0)]);
  }

  /**
   * Stores and publishes `meta`, unless the stored status is SUCCESS. Stores made in the same
   * event-loop turn share one script call (one round trip); each resolves once Redis applied
   * it, so a caller that acks after `store` resolves still acks only stored results.
   */
  store(meta: ResultMeta, options: StoreOptions): Promise<void> {
    // Not async: a worker stores every result, and the batch's promise is enough to return.
    try {
      this.#assertOpen('store');
      const ttl = ttlMs(options.expiresSec);
      const text = encodeResultMeta(meta);
      return this.#stores.add({ id: meta.task_id, key: this.#keys.taskMeta(meta.task_id), text, ttl: ttl === null ? '' : String(ttl) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #storeMany(batch: readonly PendingStore[]): Promise<readonly void[]> {
    const { keys, args } = storeMetasCall(batch);
    const what = batch.length === 1 ? `store result of task ${batch[0]?.id}` : `store results of ${batch.length} tasks (${batch[0]?.id}, ...)`;
    // Callers only wait for the store: its per-key reply (stored or skipped) is not passed on.
    const send = () => this.#write(what, batch.length === 1 ? 'the result' : 'the results', (c) => runScript(c, STORE_METAS, keys, args)).then(() => NO_RESULTS);
    // Storing is idempotent (SET + PUBLISH, SUCCESS never overwritten), so one failure is
    // retried: a connection that went silently dead has just been replaced by the watchdog,
    // and the task's end (often acked early) must not be lost for want of a second try.
    return send().catch((err: unknown) => {
      if (!(err instanceof CeleriacError && err.code === ErrorCodes.TRANSPORT) || this.#state !== 'open') throw err;
      // A refusal (OOM, READONLY while a failover completes) came over a connection that works.
      const reply = transientReply(err);
      this.options.log?.('warn', `${what} failed; retrying once ${reply === null ? 'on a fresh connection' : `(Redis answered ${reply})`}`, { err });
      return send();
    });
  }

  /** The stored meta, or null. */
  async get(taskId: string): Promise<ResultMeta | null> {
    this.#assertOpen('get');
    const text = await this.#run(`get result of task ${taskId}`, (c) => c.get(this.#keys.taskMeta(taskId)));
    return text === null ? null : decodeResultMeta(text);
  }

  /** Many metas with one MGET, in the order of `taskIds`. */
  async getMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]> {
    this.#assertOpen('getMany');
    if (taskIds.length === 0) return [];
    const keys = taskIds.map((id) => this.#keys.taskMeta(id));
    const texts = await this.#run(`get results of ${taskIds.length} tasks`, (c) => c.mGet(keys));
    return texts.map((text) => (text === null ? null : decodeResultMeta(text)));
  }

  /** SUBSCRIBEs to the task's channel; resolves once Redis acknowledged it. */
  async subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe> {
    this.#assertOpen('subscribe');
    return this.#subscriptions.add(this.#keys.taskMeta(taskId), listener);
  }

  /** ResultStore.publishSubscribed: on the subscriber connection, once open in RESP3 (result-subscriptions.ts `carry`). */
  publishSubscribed(taskId: string, listener: (meta: ResultMeta) => void, publisherFor: (server: string) => CarriedPublish | undefined, options?: { readonly newId?: boolean }): SubscribedPublish | undefined {
    if (this.#state === 'closed') return undefined;
    return this.#subscriptions.carry(this.#keys.taskMeta(taskId), listener, () => publisherFor(this.#server), options?.newId === true);
  }

  /** Deletes a task's meta. */
  async forget(taskId: string): Promise<void> {
    this.#assertOpen('forget');
    await this.#run(`forget task ${taskId}`, (c) => c.del(this.#keys.taskMeta(taskId)));
  }

  /** Saves a group's member list as `GroupResult.save()` does. */
  async saveGroup(groupId: string, meta: GroupMeta, options: StoreOptions): Promise<void> {
    this.#assertOpen('saveGroup');
    const ttl = ttlMs(options.expiresSec);
    const key = this.#keys.groupMeta(groupId);
    const text = encodeGroupMeta(meta);
    await this.#write(`save group ${groupId}`, 'the group', (c) => (ttl === null ? c.set(key, text) : c.set(key, text, { PX: ttl })));
  }

  /** A saved group, or null. */
  async getGroup(groupId: string): Promise<GroupMeta | null> {
    this.#assertOpen('getGroup');
    const text = await this.#run(`get group ${groupId}`, (c) => c.get(this.#keys.groupMeta(groupId)));
    return text === null ? null : decodeGroupMeta(text);
  }

  /** Deletes a saved group. */
  async forgetGroup(groupId: string): Promise<void> {
    this.#assertOpen('forgetGroup');
    await this.#run(`forget group ${groupId}`, (c) => c.del(this.#keys.groupMeta(groupId)));
  }

  /** Adds `taskIds` to the revoked set and announces the revoke (revocations.ts). */
  async revoke(taskIds: readonly string[], options: RevokeOptions): Promise<void> {
    this.#assertOpen('revoke');
    await revocations.revoke((w, fn) => this.#write(w, 'the revoke', fn), this.#keys, taskIds, positiveMs(options.expiresSec), options);
  }

  /** The revoked subset of `taskIds`, in one round trip. */
  async revoked(taskIds: readonly string[]): Promise<Set<string>> {
    this.#assertOpen('revoked');
    return revocations.revoked((w, fn) => this.#run(w, fn), this.#keys, taskIds);
  }

  /** Every live revoke with the ms it has left, in one round trip. */
  async revokedEntries(limit?: number): Promise<RevokedEntry[]> {
    this.#assertOpen('revokedEntries');
    return revocations.revokedEntries((w, fn) => this.#run(w, fn), this.#keys, limit);
  }

  /** SUBSCRIBEs to the revoke channel (on the subscriber connection). */
  async onRevoke(listener: (notice: RevokeNotice) => void): Promise<Unsubscribe> {
    this.#assertOpen('onRevoke');
    return revocations.subscribeRevokeNotices(this.#subscriber, this.#keys.revokeChannel, listener, this.options.log);
  }

  /** Reserves the next run of `key` (GCRA by the Redis server's clock, revocations.ts). */
  async acquireRateToken(key: string, intervalMs: number): Promise<number> {
    this.#assertOpen('acquireRateToken');
    return revocations.acquireRateToken((w, fn) => this.#run(w, fn), this.#keys, key, intervalMs);
  }

  /** Stores the chord size of `groupId` (SET + PUBLISH `celery-taskset-meta-<gid>.s`). */
  async setChordSize(groupId: string, size: number, options: StoreOptions): Promise<void> {
    this.#assertOpen('setChordSize');
    await chord.setChordSize((w, fn) => this.#write(w, 'the chord size', fn), this.#keys, groupId, size, ttlMs(options.expiresSec));
  }

  /** Records a chord header part (Celery's `.j` sorted set) and reports the join. */
  async addChordPart(groupId: string, part: ChordPart, options: StoreOptions): Promise<ChordJoinState> {
    this.#assertOpen('addChordPart');
    return chord.addChordPart((w, fn) => this.#write(w, 'the chord part', fn, 'warn'), this.#keys, groupId, part, ttlMs(options.expiresSec));
  }

  /** One more expected part of chord `groupId` (Celery's `add_to_chord`). */
  async addToChord(groupId: string, count: number, options: StoreOptions): Promise<void> {
    this.#assertOpen('addToChord');
    await chord.addToChord((w, fn) => this.#write(w, 'the chord counter', fn, 'warn'), this.#keys, groupId, count, ttlMs(options.expiresSec));
  }

  /** Deletes the join keys of chord `groupId`. */
  async clearChord(groupId: string): Promise<void> {
    this.#assertOpen('clearChord');
    await chord.clearChord((w, fn) => this.#run(w, fn), this.#keys, groupId);
  }

  /** Records that `holder` runs `task` (running-tasks.ts). */
  async recordRunning(holder: string, task: RunningTask): Promise<void> {
    this.#assertOpen('recordRunning');
    await this.#running.record(holder, task);
  }

  async forgetRunning(holder: string, tag: string): Promise<void> {
    this.#assertOpen('forgetRunning');
    await this.#running.forget(holder, tag);
  }

  async renewPresence(holder: string): Promise<void> {
    this.#assertOpen('renewPresence');
    await this.#running.renew(holder);
  }

  /** Renews `holder`'s presence every `everyMs` from a thread, off the event loop (redis/presence-keeper.ts); null when it cannot. */
  keepPresence(holder: string, everyMs: number): PresenceKeeper | null {
    this.#assertOpen('keepPresence');
    return this.#running.keepPresence(holder, everyMs, this.options);
  }

  /** Takes the records of holders silent for `graceMs` (redis/lost-tasks.ts); each returned once. */
  async takeLostRunning(graceMs: number, limit: number): Promise<LostDelivery[]> {
    this.#assertOpen('takeLostRunning');
    return this.#running.takeLost(graceMs, limit);
  }

  /** Runs `fn` on the connected command client; any Redis failure becomes TRANSPORT. */
  #run<T>(what: string, fn: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.#commands.run(what, fn);
  }

  /**
   * A write that a failover must not lose (task states, groups, chord joins, revokes): with
   * `waitReplicas`, answered once the replicas have `written` too (redis/replicas.ts), else it
   * fails as TRANSPORT. `unconfirmed: 'warn'` is for a write whose reply must be acted on and
   * that must not be made twice (a chord part: the part that completes the join calls the
   * body; a chord's counter: INCRBY): past the wait, a warning, and its reply.
   */
  #write<T>(what: string, written: string, fn: (client: RedisClient) => Promise<T>, unconfirmed: 'fail' | 'warn' = 'fail'): Promise<T> {
    const wait = this.options.waitReplicas === 0 ? undefined : this.options;
    if (wait === undefined) return this.#run(what, fn);
    return this.#run(what, (c) =>
      fn(c).then((value) => {
        const replicated = confirmReplicated(c, wait, written);
        const settled = unconfirmed === 'fail' ? replicated : replicated.catch((err: unknown) => this.options.log('warn', `${what}: going on without the replicas' acknowledgement`, { err: err as Error }));
        return settled.then(() => value);
      }),
    );
  }

  /** Delivers what is stored under every subscribed key (backends/redis/resubscribe-watch.ts: after a break). */
  async #redeliver(): Promise<void> {
    const channels = this.#subscriptions.channels();
    if (channels.length === 0 || this.#state === 'closed') return;
    try {
      const texts = await this.#run('re-read subscribed results after a reconnect', (c) => c.mGet(channels));
      texts.forEach((text, i) => {
        if (text !== null) this.#subscriptions.deliver(channels[i] as string, text);
      });
    } catch (err) {
      this.options.log('warn', 'could not re-read subscribed results after a reconnect', { err: err as Error });
    }
  }

  #assertOpen(operation: string): void {
    if (this.#state === 'closed') {
      throw new CeleriacError(ErrorCodes.STATE, `RedisBackend.${operation}: the backend is closed`);
    }
  }
}
