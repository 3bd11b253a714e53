/**
 * @module core/spi/backend
 * The result backend SPI, split by role. An adapter (backends/) implements the roles it can:
 *
 * | role | interface | conformance suite (testing/) | memory | redis | rpc:// |
 * |---|---|---|---|---|---|
 * | results | {@link ResultStore} | backend-conformance.ts | yes | yes | yes |
 * | groups | {@link GroupStore} | group-store-conformance.ts | yes | yes | no |
 * | chord join | {@link ChordJoinStore} (chord-join.ts) | chord-join-conformance.ts | yes | yes | no |
 * | revocations | {@link RevocationStore} (revocations.ts) | revocation-conformance.ts | yes | yes | no |
 * | cluster rate tokens | {@link RateTokenStore} (rate-tokens.ts) | rate-token-conformance.ts | yes | yes | no |
 *
 * The app holds one {@link ResultBackend}: the results role plus whichever others the adapter
 * plays, as methods of the same object. Callers never test for a method themselves: they ask
 * core/spi/roles.ts, which says what happens when a role is missing (a clear CONFIG error for
 * chords and saved groups, Celery's remote-control broadcast for revokes, a worker that
 * refuses cluster rate limits). Waiting for results is written once in core on top of
 * `subscribe` + `get`, so no adapter needs to poll.
 */
import type { GroupMeta, ResultMeta } from '../../protocol/types.js';
import type { ChordJoinStore } from './chord-join.js';
import type { CarriedPublish, StoreOptions, SubscribedPublish, Unsubscribe } from './common.js';
import type { RateTokenStore } from './rate-tokens.js';
import type { RevocationStore } from './revocations.js';

export type { CarriedPublish, StoreOptions, SubscribedPublish, Unsubscribe } from './common.js';
export type { ChordJoinState, ChordJoinStore, ChordPart } from './chord-join.js';
export type { RateTokenStore } from './rate-tokens.js';
export type { RevocationStore, RevokedEntry, RevokeNotice, RevokeOptions } from './revocations.js';

/** The results role: where task states and results live. Every backend plays it. */
export interface ResultStore {
  /** Adapter name: 'memory', 'redis', 'rpc'. */
  readonly kind: string;
  /** Connect (idempotent). Other calls connect lazily when needed. */
  connect(): Promise<void>;
  /** Close connections and subscriptions. */
  close(): Promise<void>;
  /**
   * Store a task's meta and notify subscribers. A stored SUCCESS is never overwritten
   * (Celery's rule): storing over it is a no-op.
   */
  store(meta: ResultMeta, options: StoreOptions): Promise<void>;
  /** The stored meta, or null when none (a PENDING task). */
  get(taskId: string): Promise<ResultMeta | null>;
  /** Many metas in one round trip, in the order of `taskIds`. */
  getMany(taskIds: readonly string[]): Promise<(ResultMeta | null)[]>;
  /**
   * Calls `listener` with every meta stored for `taskId` after the returned promise
   * resolves. Callers that wait subscribe, then `get`, so no update is missed.
   */
  subscribe(taskId: string, listener: (meta: ResultMeta) => void): Promise<Unsubscribe>;
  /** Delete a task's meta (a store that keeps nothing durable drops what it holds). */
  forget(taskId: string): Promise<void>;
  /**
   * Optional: called before this process publishes a task whose result it may wait for.
   * `rpc://` declares the process's reply queue here, as Celery does before every publish,
   * so a result sent before `get()` is called is not dropped.
   */
  beforePublish?(): Promise<void>;
  /**
   * Optional: subscribes to `taskId`'s result and, on the same connection and in the same
   * write, right behind the SUBSCRIBE, publishes the task with what `publisherFor` gives for
   * this backend's server identity: the subscription is in place before any worker can take
   * the task, so its waiter needs no read after it; `listener` also gets what was stored before
   * the publish, if anything (a task id sent again), unless `options.newId` says the id was made
   * for this send (nothing can be stored under it: nothing is read). Undefined when it cannot
   * now (its connection not open yet, a server without RESP3, `publisherFor` declining): the
   * caller publishes as usual. The returned promises settle as each step does.
   */
  publishSubscribed?(
    taskId: string,
    listener: (meta: ResultMeta) => void,
    publisherFor: (server: string) => CarriedPublish | undefined,
    options?: { readonly newId?: boolean },
  ): SubscribedPublish | undefined;
  /**
   * Optional: what an operator should hear of at worker start about the server (Redis: fewer
   * replicas connected than `waitReplicas` asks for). Never rejects: what cannot be read is not
   * reported.
   */
  serverWarnings?(): Promise<readonly string[]>;
  /** Optional: true when the adapter knows its connection is down now (as QueueBroker.offline). */
  offline?(): boolean;
  /** Optional: why connecting fails now, while it does (as QueueBroker.connectProblem). */
  connectProblem?(): string | null;
}

/** The groups role: `GroupResult.save()` / `restore()` (`celery-taskset-meta-<gid>`). */
export interface GroupStore {
  /** Save a group's member list. */
  saveGroup(groupId: string, meta: GroupMeta, options: StoreOptions): Promise<void>;
  /** A saved group, or null. */
  getGroup(groupId: string): Promise<GroupMeta | null>;
  /** Delete a saved group. */
  forgetGroup(groupId: string): Promise<void>;
}

/**
 * What an app is given as its result backend: the results role, plus the methods of every
 * other role the adapter plays (all of a role's required methods, or none: roles.ts checks).
 */
export interface ResultBackend
  extends ResultStore, Partial<GroupStore>, Partial<ChordJoinStore>, Partial<RevocationStore>, Partial<RateTokenStore> {}
