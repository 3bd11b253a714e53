/**
 * @module brokers/redis/transitions
 * Typed calls of the broker's Lua scripts (scripts/*.lua, one per atomic transition; each
 * file's header documents its KEYS, ARGV and reply). Every multi-key change of the broker
 * goes through here, so TypeScript never does a read-modify-write across round trips.
 */
import { createRequire } from 'node:module';
import type { RESP_TYPES as RespTypes, RedisClientType } from '@redis/client';
import type { RedisClient } from '../../redis/client.js';
import { loadScript, runScript, type RedisScript } from '../../redis/script.js';
import { TickBatch, type TickTurn } from '../../redis/tick-batch.js';
import { TURN_RANKS } from '../../redis/shared-commands.js';
import { bookKeys, indexScore, RENEW_LEASE_SCRIPT, renewLeaseArgs, type Held } from './lease-scripts.js';
import type { BrokerKeys, RestoreTemplate } from '../../redis/keys.js';
import type { SetAsideCategory, SetAsideLimits } from '../../core/set-aside.js';
import type { PurgeCount } from '../../core/spi/broker.js';
import type { LostFetch } from './lost-fetches.js';
import { readFetchReply, type FetchedMessage } from './fetch-reply.js';

export type { FetchedMessage } from './fetch-reply.js';

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const scriptUrl = (name: string): URL => new URL(`./scripts/${name}.lua`, import.meta.url);
const script = (name: string): RedisScript => loadScript(scriptUrl(name));
/** A script that puts messages in queues: it rings their doorbells with bells.lua's helpers. */
const withBells = (name: string): RedisScript => loadScript(scriptUrl(name), scriptUrl('bells'));

/** The broker's scripts, read once per process. */
const SCRIPTS = {
  fetch: script('fetch'),
  ack: script('ack'),
  release: withBells('release'),
  defer: script('defer'),
  promoteDue: withBells('promote-due'),
  restoreStale: withBells('restore-stale'),
  countStart: script('count-start'),
  purge: script('purge'),
  setAside: script('set-aside'),
  setAsideTake: withBells('set-aside-take'),
  reclaim: withBells('reclaim'),
} as const;

/** What parking one record did to the set-aside store (set-aside.lua). */
export interface SetAsideOutcome {
  /** False when the lease was lost (nothing changed). */
  readonly parked: boolean;
  /** Oldest records dropped to stay within the bounds, and their bytes. */
  readonly dropped: number;
  readonly droppedBytes: number;
  /** Id of the first record dropped ('' when none). */
  readonly firstDropped: string;
}

/**
 * A held delivery being acked, which may ask its ack to record its task as running
 * (celeriac.running, see running.ts): `running` is 'pending' until an ack call carries the
 * request, then 'sent' (a retried ack carries it again); undefined or 'none' when not asked,
 * or no longer (the task ended before its ack went out).
 */
export interface AckedHeld extends Held {
  running?: RunningRequest;
  /**
   * Deliveries of the message so far, this one included (RedisDelivery); undefined when not
   * known. A first delivery has no delivery count or start mark to drop with its ack.
   */
  readonly deliveryCount?: number;
}

/**
 * Where an ack's running record stands (running.ts): asked for and not sent yet (`pending`),
 * sent with an ack call (`sent`), not asked or no longer (`none`), left out because the task's
 * end goes out before the ack in the same write (`left-out`), or written whole by a call of its
 * own after that store failed (`late`).
 */
export type RunningRequest = 'pending' | 'sent' | 'none' | 'left-out' | 'late';

/** Epoch ms as float epoch seconds, the unit of kombu's unacked_index scores. */
const seconds = (ms: number): string => (ms / 1000).toFixed(6);

/** ack.lua's arguments up to the deliveries: the running records' holder and the records to remove. */
function removalArgs(holder: string, removals: readonly string[]): string[] {
  return [holder, String(removals.length), ...removals];
}

/**
 * ack.lua's arguments: {@link removalArgs}, then tag, token and record flag of each delivery.
 * The per-item loops of a batch call live in small functions like this one, so that the
 * calling method, which runs once per batch, stays small.
 */
function ackArgs(holder: string, removals: readonly string[], batch: readonly AckedHeld[]): string[] {
  const args = removalArgs(holder, removals);
  for (const h of batch) {
    const record = h.running === 'pending' || h.running === 'sent';
    if (record) h.running = 'sent';
    // ack.lua's flags: 1 records the task as running, 2 says the message may have a delivery
    // count or a start mark to drop (given back before, or not known).
    const counted = h.deliveryCount === undefined || h.deliveryCount > 1;
    args.push(h.tag, h.token, ACK_FLAGS[(record ? 1 : 0) + (counted ? 2 : 0)] as string);
  }
  return args;
}

/** ack.lua's per-delivery flags by value, as text made once. */
const ACK_FLAGS = ['0', '1', '2', '3'] as const;

const isOne = (r: unknown): boolean => Number(r) === 1;

/**
 * How long celeriac.deliveries lives after its last count (ms): its entries are dropped when
 * a message is acked or set aside by Celeriac, but a Python worker's ack or a purge leaves
 * them, and a week without any give-back clears them all.
 */
export const DELIVERY_COUNT_TTL_MS = 7 * 24 * 3600 * 1000;

/** Sends one command on the broker's connection (errors as node-redis gives them). */
export type SendCommand = <T>(fn: (client: RedisClient) => Promise<T>) => Promise<T>;

/**
 * Longest wait of a running record's removal for an ack call to carry it, before a call of
 * its own takes it (ms). Under load the next ack follows within a round trip; a removal that
 * waits changes nothing but how soon a dead worker's task list is exact.
 */
const REMOVAL_WAIT_MS = 50;

/** The broker's atomic transitions on one connection and key set. */
export class Transitions {
  /** Acks made in one event-loop turn go out as one ack.lua call, after the turn's result stores. */
  readonly #acks: TickBatch<AckedHeld, boolean>;

  /** The names restore-stale.lua builds for Python-held messages (see redis/keys.ts). */
  readonly #restoreTemplate: RestoreTemplate;

  /**
   * @param runningHolder The broker id ack.lua writes into running records (see
   *   {@link AckedHeld}); '' when this broker records none.
   * @param turn The connection's turn (redis/shared-commands.ts), which acks join at their rank.
   */
  constructor(
    private readonly send: SendCommand,
    private readonly keys: BrokerKeys,
    private readonly runningHolder = '',
    turn?: TickTurn,
  ) {
    this.#restoreTemplate = keys.restoreTemplate();
    this.#acks = new TickBatch((batch) => this.#ackMany(batch), undefined, turn === undefined ? undefined : { turn, rank: TURN_RANKS.acks });
  }

  #run(s: RedisScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.send((c) => runScript(c, s, keys, asStrings(args)));
  }

  get #book(): string[] {
    return bookKeys(this.keys);
  }

  /**
   * Pops up to `max` messages from `bucketKeys` (step-major, one key per queue of `queues`
   * per step) and records each as held with a lease until `nowMs + leaseMs`. `bells`, the
   * queues' doorbells, are deleted when the fetch comes up short; `via` sends the script on
   * another connection (a blocked one: bell.ts). The script is sent synchronously.
   *
   * Not async, and the encoding check kept in a function of its own: this runs once per batch,
   * and V8 compiles it early in every worker's life; an await inside a loop made it an async
   * state machine several times the size of the common path.
   */
  fetch(bucketKeys: readonly string[], queues: readonly string[], max: number, nowMs: number, leaseMs: number, tokenPrefix: string, bells: readonly string[] = [], via?: SendCommand): Promise<FetchedMessage[]> {
    let sent: Promise<unknown>;
    try {
      const args = [String(queues.length), String(max), String(indexScore(nowMs)), String(nowMs + leaseMs), tokenPrefix];
      for (let i = 0; i < queues.length; i++) args.push(JSON.stringify(queues[i]));
      const keys = [...this.#book, this.keys.deliveries, ...bucketKeys, ...bells];
      sent = via === undefined ? this.#run(SCRIPTS.fetch, keys, args) : via((c) => runScript(c, SCRIPTS.fetch, keys, args));
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return sent.then((reply) => this.#fetched(reply as string[], tokenPrefix));
  }

  /** The messages of a fetch's reply, those with U+FFFD checked against their stored bytes. */
  #fetched(reply: readonly string[], tokenPrefix: string): FetchedMessage[] | Promise<FetchedMessage[]> {
    if (reply.length === 0) return [];
    const got = readFetchReply(reply, tokenPrefix);
    // Replies are decoded as UTF-8 with bytes that are not UTF-8 replaced by U+FFFD, silently,
    // while the body (base64) is checked strictly: one rule for both, so an envelope holding
    // U+FFFD (rare: searching an ASCII string for it costs nothing) has its stored bytes read
    // back and checked, and one that is not UTF-8 is refused as a bad body is.
    for (const m of got) if (m.raw.includes('\uFFFD')) return this.#checkEncodings(got);
    return got;
  }

  async #checkEncodings(got: FetchedMessage[]): Promise<FetchedMessage[]> {
    for (const m of got) if (m.raw.includes('\uFFFD') && !(await this.#storedAsUtf8(m.tag))) m.invalid = 'bad-encoding: the envelope is not valid UTF-8 (its headers or properties hold bytes that are not UTF-8)';
    return got;
  }

  /** reclaim.lua: gives back what a fetch whose reply was lost took (lost-fetches.ts); how many messages. */
  async reclaim(f: LostFetch): Promise<number> {
    const keys = [...this.#book, ...f.buckets, ...f.queues.map((q) => this.keys.bell(q))];
    return (await this.#run(SCRIPTS.reclaim, keys, [f.expiresAt, f.prefix, f.queues.length, f.buckets.length, ...f.queues.map((q) => JSON.stringify(q)), ...f.queues.map((q) => this.keys.wakeChannel(q))])) as number;
  }

  /** Whether the unacked entry of `tag` is valid UTF-8 as stored (true when it is gone). */
  async #storedAsUtf8(tag: string): Promise<boolean> {
    // node-redis is loaded by then (a connection made the fetch): the require is a cache hit.
    const { RESP_TYPES } = createRequire(import.meta.url)('@redis/client') as { RESP_TYPES: typeof RespTypes };
    const bytes = await this.send((c) => (c as RedisClientType).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).hGet(this.keys.unacked, tag));
    if (bytes === null || bytes === undefined) return true;
    try {
      STRICT_UTF8.decode(bytes as Buffer);
      return true;
    } catch {
      return false;
    }
  }

  /** kombu's ack; false when the lease was lost. Acks of one turn share one call, which records the task as running when `running` is set. */
  ack(held: AckedHeld): Promise<boolean> {
    return this.#acks.add(held);
  }

  async #ackMany(batch: readonly AckedHeld[]): Promise<boolean[]> {
    const removals = this.#takeRemovals();
    try {
      const reply = (await this.#run(SCRIPTS.ack, this.#ackKeys(), ackArgs(this.runningHolder, removals, batch))) as number[];
      return reply.map(isOne);
    } catch (error) {
      // Not lost with the call: the next one carries them.
      this.#removals.push(...removals);
      throw error;
    }
  }

  /** Running records of tasks that ended (running.ts), waiting for an ack call to remove them. */
  #removals: string[] = [];
  #removalTimer: NodeJS.Timeout | undefined;

  /**
   * Removes the running record of `tag` (its task's end was stored) with the next ack call,
   * or after {@link REMOVAL_WAIT_MS} with a call of its own when no ack comes. Never fails:
   * a removal that cannot be made leaves a record that a sweep reports only after this
   * worker stopped, and the report then finds the task's end stored.
   */
  forgetRunning(tag: string, log?: (error: unknown) => void): void {
    this.#removals.push(tag);
    if (this.#removalTimer !== undefined) return;
    this.#removalTimer = setTimeout(() => {
      this.#removalTimer = undefined;
      const tags = this.#takeRemovals();
      if (tags.length > 0) this.#remove(tags).catch((error: unknown) => log?.(error));
    }, REMOVAL_WAIT_MS);
    this.#removalTimer.unref();
  }

  /** Sends the waiting removals now (the broker closes). */
  async flushRemovals(): Promise<void> {
    const tags = this.#takeRemovals();
    if (tags.length > 0) await this.#remove(tags);
  }

  /** Removes running records with an ack call of no delivery (ack.lua deletes a short record's unacked entry with it). */
  async #remove(tags: readonly string[]): Promise<void> {
    // Not ackArgs with an empty batch: an empty array literal has another shape than the batches,
    // and V8 deoptimized ackArgs (and the ack path with it) the first time a removal went alone.
    await this.#run(SCRIPTS.ack, this.#ackKeys(), removalArgs(this.runningHolder, tags));
  }

  #ackKeys(): string[] {
    return [...this.#book, this.keys.deliveries, this.keys.running, this.keys.started];
  }

  #takeRemovals(): string[] {
    const tags = this.#removals;
    if (tags.length === 0) return tags;
    this.#removals = [];
    if (this.#removalTimer !== undefined) clearTimeout(this.#removalTimer);
    this.#removalTimer = undefined;
    return tags;
  }

  /** release.lua: pushes `payload` onto `list`, doing `count` to the tag's delivery count, and rings the queue's doorbell and wake-up channel. */
  async #release(held: Held, list: string, payload: string, end: 'LPUSH' | 'RPUSH', count: 'count' | 'keep'): Promise<boolean> {
    const queue = this.keys.queueOfBucket(list);
    const keys = [...this.#book, list, this.keys.deliveries, ...(queue === undefined ? [] : [this.keys.bell(queue)])];
    const args = [held.tag, held.token, payload, end, count, DELIVERY_COUNT_TTL_MS, ...(queue === undefined ? [] : [this.keys.wakeChannel(queue)])];
    return (await this.#run(SCRIPTS.release, keys, args)) === 1;
  }

  /** Back to the back of `bucketKey`, `markedRaw` carrying the redelivered marks, counted as a delivery given back; false when the lease was lost. */
  requeue(held: Held, bucketKey: string, markedRaw: string): Promise<boolean> {
    return this.#release(held, bucketKey, markedRaw, 'LPUSH', 'count');
  }

  /** Back to the front of `bucketKey` (not counted: it never started); false when the lease was lost. */
  restore(held: Held, bucketKey: string, raw: string): Promise<boolean> {
    return this.#release(held, bucketKey, raw, 'RPUSH', 'keep');
  }

  /** Into the delayed set until `deliverAt` (`counted`: a worker-side redelivery, counted as given back); false when the lease was lost. */
  async defer(held: Held, deliverAt: number, bucketKey: string, raw: string, counted = false): Promise<boolean> {
    const keys = [...this.#book, this.keys.delayed, this.keys.deliveries];
    return (await this.#run(SCRIPTS.defer, keys, [held.tag, held.token, deliverAt, delayedMember(bucketKey, raw), counted ? '1' : '0', DELIVERY_COUNT_TTL_MS])) === 1;
  }

  /**
   * The task of `held`, a delivery given back before, starts now (count-start.lua): if its
   * holder dies while it runs, the lease recovery counts that against it. False when the lease
   * was lost.
   */
  async countStart(held: Held): Promise<boolean> {
    return (await this.#run(SCRIPTS.countStart, [this.keys.leaseData, this.keys.started], [held.tag, held.token, DELIVERY_COUNT_TTL_MS])) === 1;
  }

  /** The list and byte counter of a part of the set-aside store. */
  setAsidePart(category: SetAsideCategory): [list: string, bytes: string] {
    const k = this.keys;
    return category === 'dead-letter' ? [k.deadLetters, k.deadLettersBytes] : [k.setAside, k.setAsideBytes];
  }

  /** Onto its part of the set-aside store (its delivery count dropped), dropping that part's oldest records past `limits`. */
  async setAside(held: Held, record: string, limits: SetAsideLimits, category: SetAsideCategory): Promise<SetAsideOutcome> {
    const [list, bytes] = this.setAsidePart(category);
    const keys = [...this.#book, list, this.keys.deliveries, bytes, this.keys.started];
    const [parked, dropped, droppedBytes, first] = (await this.#run(SCRIPTS.setAside, keys, [held.tag, held.token, record, limits.maxCount, limits.maxBytes])) as [number, number, number, string];
    return { parked: Number(parked) === 1, dropped: Number(dropped), droppedBytes: Number(droppedBytes), firstDropped: String(first) };
  }

  /** Removes records of one part by id (or all), replaying their messages with `replay`; returns their stored texts. */
  async takeSetAside(ids: readonly string[] | 'all', action: 'replay' | 'purge', category: SetAsideCategory): Promise<string[]> {
    const t = this.#restoreTemplate;
    const which = ids === 'all' ? ['*'] : ['', ...ids];
    const reply = (await this.#run(SCRIPTS.setAsideTake, this.setAsidePart(category), [action, t.queuePrefix, ...t.bucketSuffixes, this.keys.bell(''), this.keys.wakeChannel(''), ...which])) as string[];
    return reply.map(String);
  }

  /** Extends the leases still held; returns the tags whose lease was lost. */
  async renewLeases(held: readonly Held[], nowMs: number, leaseMs: number): Promise<string[]> {
    if (held.length === 0) return [];
    return ((await this.#run(RENEW_LEASE_SCRIPT, this.#book, renewLeaseArgs(held, nowMs, leaseMs))) as string[]).map(String);
  }

  /**
   * Moves due delayed messages to their buckets; returns how many and the next due time. With
   * `duty` 'count', also how many promoters are live; with a claimant (a promoting broker's id
   * and how long a claim outlives its due time), that and whether it holds the claim on the
   * next due time.
   */
  async promoteDue(nowMs: number, limit: number, duty?: { id: string; slackMs: number } | 'count'): Promise<PromoteOutcome> {
    const k = this.keys;
    const claimant = typeof duty === 'object' ? duty : undefined;
    const keys = duty === undefined ? [k.delayed] : claimant === undefined ? [k.delayed, k.promoters] : [k.delayed, k.promoters, k.promoteClaim];
    const args = [nowMs, limit, k.prefix, k.bell(''), k.wakeChannel(''), ...(claimant === undefined ? [] : [claimant.id, claimant.slackMs])];
    const [moved, next, owner, live] = (await this.#run(SCRIPTS.promoteDue, keys, args)) as [number, number, number, number];
    return { moved: Number(moved), nextDue: Number(next) < 0 ? undefined : Number(next), claimed: Number(owner) === 1, promoters: Number(live) };
  }

  /**
   * The recovery sweep: expired Celeriac leases, and other holders' tags older than the
   * visibility timeout. Undefined when another sweeper holds unacked_mutex.
   */
  async restoreStale(nowMs: number, visibilityMs: number, mutexToken: string, limit: number): Promise<{ ours: number; theirs: number } | undefined> {
    const k = this.keys;
    const t = this.#restoreTemplate;
    const [ours, theirs] = (await this.#run(SCRIPTS.restoreStale, [...this.#book, k.unackedMutex, k.deliveries, k.started], [
      nowMs, seconds(nowMs - visibilityMs), mutexToken, 300_000, limit, t.queuePrefix, t.bindingPrefix, t.sep, ...t.bucketSuffixes, DELIVERY_COUNT_TTL_MS, k.bell(''), k.wakeChannel(''),
    ])) as [number, number];
    return Number(ours) < 0 ? undefined : { ours: Number(ours), theirs: Number(theirs) };
  }

  /** Deletes the queue's ready and delayed messages; returns how many of each. */
  async purge(queue: string): Promise<PurgeCount> {
    const [ready, delayed] = (await this.#run(SCRIPTS.purge, [this.keys.delayed, ...this.keys.buckets(queue)], [])) as [number, number];
    return { ready: Number(ready), delayed: Number(delayed) };
  }
}

/** What a promote-due.lua call did and found (Transitions.promoteDue). */
export interface PromoteOutcome {
  readonly moved: number;
  /** Due time of the earliest delayed message left. */
  readonly nextDue: number | undefined;
  /** The claimant holds the claim on nextDue: it alone waits for that time. */
  readonly claimed: boolean;
  /** Live promoters (0 when neither 'count' nor a claimant was asked for). */
  readonly promoters: number;
}


/** A member of the delayed set: where the message goes when due, and the message. */
export function delayedMember(bucketKey: string, raw: string): string {
  return JSON.stringify([bucketKey, raw]);
}

/**
 * `args` as strings, in a packed array like those the callers build: `map` made a holey one, and
 * runScript's loops, compiled by V8 for one kind of array, were thrown away and compiled again
 * at the first script call that passed the other (a fresh worker's fetch, on its blocked
 * connection, takes its arguments as they are).
 */
function asStrings(args: readonly (string | number)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string | number;
    out.push(typeof arg === 'string' ? arg : String(arg));
  }
  return out;
}
