/**
 * @module brokers/redis/waiting
 * How a consumer learns that its queues may hold messages again (redis-consumer.ts owns the
 * fetch loop and asks here when a fetch came up short):
 * - on a plain Redis, from a blocked fetch on its bell line (bell.ts): the fetch waits in Redis
 *   for a doorbell token and runs the moment one lands; this module ends it early (a token on
 *   the consumer's own doorbell) on a notification or the poll timer;
 * - on Sentinel, or when the server refused the line, from pub/sub wake-ups on the queues'
 *   channels (wake-subscriber.ts) and the poll timer; a break in the subscription (an error, a
 *   reconnect, a new master) may have lost some, so the consumer fetches and polls fast again.
 * Notifications (a queue or prefetch change, an ETA promotion, close) go through the
 * {@link Wakeup} either way. How long a wait lasts at most is the {@link PollPace}'s.
 */
import { Backoff } from '../../core/backoff.js';
import type { Clock } from '../../core/clock.js';
import { toTransportError } from '../../redis/client.js';
import type { TransportLog } from '../../core/transport-table.js';
import type { BellLine } from './bell.js';
import type { Fetch } from './fetch-window.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import type { Wakeable, WakeWatch } from './wake-subscriber.js';
import { nextTurn, Wakeup } from './wakeup.js';

/** What a consumer's waiting needs from the broker and from the consumer. */
export interface WaitingDeps {
  /** Wake-up subscriptions per queue (wake-subscriber.ts). */
  readonly wake: WakeWatch;
  /** A new bell line for a consumer (its id); absent where there is none (Sentinel). */
  readonly bell?: (consumerId: string) => BellLine;
  readonly log?: TransportLog | undefined;
  /** The poll's settings, and the clock its quiet spell is timed by. */
  readonly options: PaceOptions;
  /** The consumer: what wake-ups wake, where failures to (un)subscribe go, and its queues now. */
  readonly owner: Wakeable & { report(error: unknown): void; readonly queues: readonly string[]; readonly id: string };
}

type PaceOptions = Pick<ResolvedRedisBrokerOptions, 'clock' | 'pollIntervalMs' | 'quietPollIntervalMs' | 'quietAfterMs'>;

/**
 * How long an idle consumer waits at most before it fetches anyway (its poll), for messages
 * that ring no doorbell: those of Python producers (kombu pushes the message only), and of
 * Python workers' restores. 1 ms after a poll found messages, doubling to `pollIntervalMs`;
 * and once no such message came for `quietAfterMs` (the consumer's start counts as one; see
 * {@link PollPace.fetched}), `quietPollIntervalMs`: everything Celeriac puts in a queue rings
 * its doorbell and PUBLISHes on its wake-up channel (publishes, ETA promotion, the recovery
 * sweep's restores, requeues, set-aside replays), so a quiet consumer still gets those at once,
 * on a bell line or on Sentinel's pub/sub. A pub/sub wake-up sent while the subscription was
 * broken is lost: such a break makes the poll fast again for `quietAfterMs` ({@link PollPace.unsure}).
 */
export class PollPace {
  readonly #fast: Backoff;
  /** When a poll last found messages nobody announced, on the options' clock. */
  #unannouncedAt: number;

  constructor(private readonly o: PaceOptions) {
    this.#fast = new Backoff({ firstMs: 1, growth: { factor: 2 }, maxMs: o.pollIntervalMs });
    this.#unannouncedAt = o.clock.now();
  }

  /** Messages came (a full batch, or some nobody announced): the fast poll starts at 1 ms again. */
  reset(): void {
    this.#fast.reset();
  }

  /**
   * A fetch brought `got`; `polled`: the poll timer sent it, no doorbell token. Found by a poll,
   * or written by a producer other than Celeriac's (a delivery tag that is not a uuid7, as
   * kombu's uuid4: a worker kept busy by a Python producer fetches its messages unpolled),
   * they tell that a producer that rings no doorbell sends here: fast polls for `quietAfterMs`,
   * and after a poll's find, from 1 ms again.
   */
  fetched(got: readonly { readonly tag: string }[], polled: boolean): void {
    if (got.length === 0) return;
    if (polled) this.#fast.reset();
    let unannounced = polled;
    // The version digit of "xxxxxxxx-xxxx-7xxx-...".
    for (let i = 0; !unannounced && i < got.length; i++) unannounced = got[i]!.tag.charCodeAt(14) !== 55;
    if (unannounced) this.#unannouncedAt = this.o.clock.now();
  }

  /**
   * Announcements may have been lost (the pub/sub subscription broke): fast polls again for
   * `quietAfterMs`. Not from 1 ms: the consumer fetches once at the break (wake-subscriber.ts),
   * and a connection that fails over and over must not bring a burst of fetches each time.
   */
  unsure(): void {
    this.#unannouncedAt = this.o.clock.now();
  }

  /**
   * The next wait, ms. `announced` false: the consumer hears no wake-up now (a SUBSCRIBE Redis
   * refused), so it polls fast however long it has been quiet.
   */
  next(announced = true): number {
    if (announced && this.o.clock.now() - this.#unannouncedAt >= this.o.quietAfterMs) return this.o.quietPollIntervalMs;
    return this.#fast.next();
  }
}

/** A consumer's ways of waiting (see the module header). */
export class Waiting {
  readonly wakeup = new Wakeup();
  readonly pace: PollPace;
  #bell: BellLine | undefined;
  /** True while a blocked fetch is out: no other fetch goes meanwhile (its reply would wait behind it). */
  #blocked = false;
  /** What the wake subscriber wakes: the consumer, which after a break in the subscription also polls fast. */
  readonly #watcher: Wakeable = {
    wake: () => this.deps.owner.wake(),
    missed: () => {
      this.pace.unsure();
      this.deps.owner.wake();
    },
  };

  constructor(private readonly deps: WaitingDeps) {
    this.pace = new PollPace(deps.options);
  }

  /** Whether a blocked fetch is out. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Opens the bell line, or subscribes to the queues' wake-ups where there is none. */
  start(queues: readonly string[]): void {
    this.#bell = this.deps.bell?.(this.deps.owner.id);
    this.#bell?.connect(() => this.deps.owner.wake());
    if (this.#bell === undefined) for (const q of queues) this.watch(q);
  }

  /** A queue joined (no-op on a bell line: each block names the queues of its time). */
  watch(queue: string): void {
    if (this.#bell !== undefined) return;
    this.deps.wake.watch(queue, this.#watcher).catch((error: unknown) => {
      this.pace.unsure();
      this.deps.owner.report(toTransportError(error, 'subscribe to wake-up channels'));
    });
  }

  /** A queue left, or the consumer closes. */
  unwatch(queue: string): void {
    if (this.#bell !== undefined) return;
    this.deps.wake.unwatch(queue, this.#watcher).catch((error: unknown) => this.deps.owner.report(toTransportError(error, 'unsubscribe from wake-up channels')));
  }

  /** Closes the bell line; call once the fetch loop has ended. */
  async close(): Promise<void> {
    await this.#bell?.close();
  }

  /**
   * Waits after a short fetch: for a notification or the poll ({@link pace}); true when notified
   * or rung, false when the poll ended it. On a ready bell line, `block(bell, pollMs)` sends a
   * blocked fetch, which is pushed to `sent` (the loop's next reply) and ended early here.
   * `open()` false: the consumer closed meanwhile.
   */
  async idle(clock: Clock, open: () => boolean, block: (bell: BellLine, pollMs: number) => Fetch | undefined, sent: Fetch[]): Promise<boolean> {
    let bell = this.#line(open);
    if (bell?.ready === true) {
      // The batch just handed out settles first: its tasks' result stores and acks (sent in the
      // next turn) go ahead of the block, on the round trip a waiting client is timing.
      await nextTurn();
      await nextTurn();
      if (!open()) return true;
      bell = this.#line(open);
    }
    const ms = this.pace.next(bell !== undefined || this.deps.owner.queues.every((q) => this.deps.wake.subscribed(q)));
    // Not ready (connecting, reconnecting): this wait goes without a block; the line's ready
    // event wakes the consumer (start).
    const fetch = bell?.ready === true ? block(bell, ms) : undefined;
    if (fetch?.rang === undefined) return (await this.wakeup.wait(clock, ms)) === 'notified';
    this.#blocked = true;
    const unblocked = (): void => void (this.#blocked = false);
    fetch.reply.then(unblocked, unblocked);
    sent.push(fetch);
    const end = await this.wakeup.waitBeside(clock, ms, fetch.reply);
    if (end !== 'done') bell?.unblock();
    return end === 'notified' || (await fetch.rang);
  }

  /** The bell line while the server takes it; one it refused is closed and the queues watched instead. */
  #line(open: () => boolean): BellLine | undefined {
    const bell = this.#bell;
    if (bell === undefined || bell.usable || !open()) return bell;
    this.#bell = undefined;
    this.deps.log?.('warn', 'Redis refused the blocking wait on doorbells; this consumer waits on pub/sub wake-ups instead', { err: bell.refused });
    void bell.close();
    for (const q of this.deps.owner.queues) this.watch(q);
    return undefined;
  }
}
