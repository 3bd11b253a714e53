/**
 * @module core/spi/roles
 * Which adapter plays which optional role, and what happens when none does. Callers ask here
 * instead of testing for a method, so every missing role behaves the same way everywhere:
 *
 * | role | comes from | when missing |
 * |---|---|---|
 * | chord join | the result backend | sending a chord fails at once (CONFIG), before anything is published |
 * | saved groups | the result backend | `GroupResult.save()` / `restore()` fail (CONFIG) |
 * | revocations | the result backend | Celery's way: a revoke is broadcast as the `revoke` remote-control command; running workers (Python ones too) remember it in memory, workers started later do not |
 * | cluster rate tokens | the result backend | a worker refuses to start with a task that has `clusterRateLimit` (CONFIG, worker/rate-limit.ts) |
 * | running tasks | the result backend, for brokers that keep none (RabbitMQ) | early-acked tasks of a killed worker are not reported lost; the worker says so at start (worker/lost-task-watch.ts) |
 * | beat store | beat's `store` option, else the broker | beat fails to start (CONFIG) naming the way out |
 * | delayed listing | the broker | `inspect scheduled` and `query_task` see nothing held by the broker |
 * | set-aside listing | the broker | nothing to list |
 * | queue age | the broker (RabbitMQ) | no age series from the broker (the dashboard reads Redis lists itself) |
 *
 * The broker is not asked for backend roles: revokes, joins and rate tokens live with the
 * results, as in Celery, and a role played by two adapters would need a rule for which wins.
 */
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { CONTROL_EXCHANGE, encodeControlRequest } from '../../protocol/pidbox.js';
import { uuid4 } from '../uuid.js';
import type { GroupStore, ResultBackend } from './backend.js';
import type { BeatStore } from './beat-store.js';
import type { Broker, DelayedListing, QueueAgeReading, SetAsideListing } from './broker.js';
import type { ChordJoinStore } from './chord-join.js';
import type { RateTokenStore } from './rate-tokens.js';
import type { RevocationStore, RevokeOptions } from './revocations.js';
import type { RunningTaskStore } from './running-tasks.js';

/** The required methods of each optional role: an adapter plays a role when it has them all. */
const GROUPS = ['saveGroup', 'getGroup', 'forgetGroup'] as const satisfies readonly (keyof GroupStore)[];
const CHORD_JOIN = ['setChordSize', 'addChordPart', 'clearChord'] as const satisfies readonly (keyof ChordJoinStore)[];
const REVOCATIONS = ['revoke', 'revoked'] as const satisfies readonly (keyof RevocationStore)[];
const RATE_TOKENS = ['acquireRateToken'] as const satisfies readonly (keyof RateTokenStore)[];
const RUNNING_TASKS = ['recordRunning', 'forgetRunning', 'renewPresence', 'takeLostRunning'] as const satisfies readonly (keyof RunningTaskStore)[];
const DELAYED_LISTING = ['delayedMessages'] as const satisfies readonly (keyof DelayedListing)[];
const SET_ASIDE_LISTING = ['setAsideMessages', 'takeSetAside', 'setAsideStats'] as const satisfies readonly (keyof SetAsideListing)[];
const QUEUE_AGE = ['queueWaitingSince'] as const satisfies readonly (keyof QueueAgeReading)[];

/** True when `adapter` has every method in `methods`. */
function plays<T extends object>(adapter: object, methods: readonly (keyof T & string)[]): adapter is T {
  return methods.every((m) => typeof (adapter as Record<string, unknown>)[m] === 'function');
}

function missing(what: string, kind: string, need: string): CeleriacError {
  return new CeleriacError(ErrorCodes.CONFIG, `${what}: the ${kind} result backend ${need}; use a backend that stores it (redis://, memory://)`);
}

/** The backend as a {@link GroupStore}, or undefined when it saves no groups. */
export function groupStoreOf(backend: ResultBackend): GroupStore | undefined {
  return plays<GroupStore>(backend, GROUPS) ? backend : undefined;
}

/** The backend as a {@link GroupStore}. @throws CeleriacError CONFIG when it saves no groups. */
export function requireGroupStore(backend: ResultBackend): GroupStore {
  const store = groupStoreOf(backend);
  if (store === undefined) throw missing('saved groups', backend.kind, 'cannot save groups');
  return store;
}

/** The backend as a {@link ChordJoinStore}, or undefined when it keeps no chord join. */
export function chordJoinOf(backend: ResultBackend): ChordJoinStore | undefined {
  return plays<ChordJoinStore>(backend, CHORD_JOIN) ? backend : undefined;
}

/**
 * The backend as a {@link ChordJoinStore}.
 * @throws CeleriacError CONFIG when it keeps no chord join (chords cannot run on it).
 */
export function requireChordJoin(backend: ResultBackend): ChordJoinStore {
  const join = chordJoinOf(backend);
  if (join === undefined) throw missing('chords', backend.kind, 'keeps no chord join');
  return join;
}

/** The backend as a {@link RevocationStore}, or undefined (revokes then go by remote control). */
export function revocationStoreOf(backend: ResultBackend): RevocationStore | undefined {
  return plays<RevocationStore>(backend, REVOCATIONS) ? backend : undefined;
}

/** The backend as a {@link RateTokenStore}, or undefined (cluster rate limits cannot run). */
export function rateTokensOf(backend: ResultBackend): RateTokenStore | undefined {
  return plays<RateTokenStore>(backend, RATE_TOKENS) ? backend : undefined;
}

/** The backend as a {@link RunningTaskStore}, or undefined (lost tasks then go unreported on brokers that keep no record). */
export function runningTaskStoreOf(backend: ResultBackend): RunningTaskStore | undefined {
  return plays<RunningTaskStore>(backend, RUNNING_TASKS) ? backend : undefined;
}

/** The broker as a {@link DelayedListing}, or undefined. */
export function delayedListingOf(broker: Broker): DelayedListing | undefined {
  return plays<DelayedListing>(broker, DELAYED_LISTING) ? broker : undefined;
}

/**
 * Purges `queue`, ready and delayed messages counted apart where the broker tells them apart
 * (`purgeCounted`); else everything `purge` removed counts as ready and `delayed` is null.
 */
export async function purgeCounting(broker: Broker, queue: string): Promise<{ ready: number; delayed: number | null }> {
  if (typeof broker.purgeCounted === 'function') return broker.purgeCounted(queue);
  return { ready: await broker.purge(queue), delayed: null };
}

/** The broker as a {@link SetAsideListing}, or undefined. */
export function setAsideListingOf(broker: Broker): SetAsideListing | undefined {
  return plays<SetAsideListing>(broker, SET_ASIDE_LISTING) ? broker : undefined;
}

/** The broker as a {@link QueueAgeReading}, or undefined (it tells no queue's age). */
export function queueAgeReadingOf(broker: Broker): QueueAgeReading | undefined {
  return plays<QueueAgeReading>(broker, QUEUE_AGE) ? broker : undefined;
}

/**
 * Beat's store: `explicit` when given, else the broker's own (which can fence publishes in
 * the same atomic step as the lease check).
 * @throws CeleriacError CONFIG when neither exists.
 */
export function beatStoreOf(broker: Broker, explicit?: BeatStore): BeatStore {
  if (explicit !== undefined) return explicit;
  if (typeof broker.beatStore === 'function') return broker.beatStore();
  throw new CeleriacError(
    ErrorCodes.CONFIG,
    `The ${broker.kind} broker cannot host beat (no beat store): use a redis://, amqp:// or memory:// broker, or give beat a store`,
  );
}

/** What {@link revokeTasks} needs: the app's adapters. */
export interface RevokeTransports {
  readonly backend: ResultBackend;
  readonly broker: Broker;
}

/**
 * Most ids in one stored revoke and in one `revoke` broadcast. Each message then stays under
 * about half a MB (39 bytes an id in the notice, 53 in the broadcast). Every worker subscribes
 * to both, and Redis drops a subscriber whose output buffer passes 32 MB by default: a revoke
 * of a million ids in one message disconnected them all, and the notice was lost.
 */
export const REVOKE_BATCH = 10_000;

/**
 * Revokes `taskIds`: stored by the backend's {@link RevocationStore} when it has one (workers
 * started later skip them too, running ones hear of it), and broadcast as Celery's `revoke`
 * remote-control command on the broker's pidbox exchange, which every running worker (Python
 * or Celeriac) obeys and remembers in memory, as `celery control revoke` does. In batches of
 * {@link REVOKE_BATCH}, each stored, then broadcast.
 */
export async function revokeTasks(transports: RevokeTransports, taskIds: readonly string[], options: RevokeOptions): Promise<void> {
  const store = revocationStoreOf(transports.backend);
  for (let start = 0; start < taskIds.length; start += REVOKE_BATCH) {
    const batch = taskIds.slice(start, start + REVOKE_BATCH);
    if (store !== undefined) await store.revoke(batch, options);
    // Also broadcast, always: Python workers learn of revokes only from the pidbox.
    const raw = encodeControlRequest(
      {
        method: 'revoke',
        arguments: { task_id: batch, terminate: options.terminate ?? false, signal: options.signal ?? 'SIGTERM' },
        destination: null,
        pattern: null,
        matcher: null,
      },
      { clock: 0, expires: 0, deliveryTag: uuid4() },
    );
    await transports.broker.publishFanout(CONTROL_EXCHANGE, '', raw);
  }
}
