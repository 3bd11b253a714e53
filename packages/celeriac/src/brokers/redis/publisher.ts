/**
 * @module brokers/redis/publisher
 * The Redis broker's publish paths: single (LPUSH + doorbell and wake-up), ETA hand-off to the
 * delayed set (delayed.ts), beat's fenced send (fenced-publish.ts) and the pipelined bulk
 * write (bulk-publish.ts), plus exchange routing through kombu's `_kombu.binding.*` sets.
 * A publishing process that does not consume also helps with ETA duties (see
 * {@link RedisPublisher} `#promoteOnPublish`). With `waitReplicas`, every send is answered
 * only once that many replicas have its writes ({@link RedisPublisher} `#replicated`).
 */
import type { CarriedPublish, PublishOptions, PublishRequest } from '../../core/spi/broker.js';
import { checkDeliverAt, checkQueueName } from '../../core/spi/broker-args.js';
import { uuid7 } from '../../core/uuid.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { EnvelopeWriter } from '../../protocol/envelope-writer.js';
import type { Message } from '../../protocol/types.js';
import { toTransportError, type RedisClient } from '../../redis/client.js';
import type { CommandClient } from '../../redis/guarded-client.js';
import { planBulkPublish, sendBulkPlan, type BulkCommands } from './bulk-publish.js';
import { presenceTtlMs, type DelayedSet } from './delayed.js';
import { publishFenced } from './fenced-publish.js';
import { parseBindingMember, stepOf, type BrokerKeys, type PriorityStep } from '../../redis/keys.js';
import type { Lifecycle } from './lifecycle.js';
import type { Maintenance } from './maintenance.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import type { Transitions } from './transitions.js';
import { ringBell, type BellCommands } from './bell.js';
import { confirmReplicated, type WaitCommand } from '../../redis/replicas.js';
import { QUIET_WAKE_MS } from './wake-subscriber.js';

/** The command subset the broker uses, on either a plain or a Sentinel client. */
export interface Commands extends BellCommands, WaitCommand {
  lPush(key: string, value: string | string[]): Promise<number>;
  publish(channel: string, message: string | Buffer): Promise<number>;
  zAdd(key: string, member: { score: number; value: string }): Promise<number>;
  sAdd(key: string, member: string): Promise<number>;
  sRem(key: string, member: string): Promise<number>;
  sMembers(key: string): Promise<string[]>;
  lLen(key: string): Promise<number>;
  lRange(key: string, start: number, stop: number): Promise<string[]>;
  zRangeWithScores(key: string, start: number, stop: number): Promise<{ value: string; score: number }[]>;
  zCard(key: string): Promise<number>;
  configGet(parameters: string[]): Promise<Record<string, string>>;
  get(key: string): Promise<string | null>;
  info(section: string): Promise<string>;
}

/** Runs `run` on the guarded command connection, mapping failures to transport errors. */
export function command<T>(redis: CommandClient, what: string, run: (c: Commands) => Promise<T>): Promise<T> {
  return redis.run(what, (c) => run(c as unknown as Commands));
}

/** The broker's services a publisher uses. */
export interface PublisherDeps {
  readonly keys: BrokerKeys;
  readonly options: ResolvedRedisBrokerOptions;
  /** The command connection. */
  readonly redis: CommandClient;
  readonly transitions: Transitions;
  /** The ETA transitions (delayed.ts). */
  readonly delayed: DelayedSet;
  /** Told when a message went to the delayed set; its state says whether this broker consumes. */
  readonly maintenance: Maintenance;
  readonly lifecycle: Lifecycle;
}

// How long the wake-ups of a queue nobody took are skipped: see QuietWakes. Defined beside the
// consumer's side of the wake-ups, which waits that long before it trusts a new subscription.
export { QUIET_WAKE_MS };

/**
 * Inside a quiet window, how often a queue that is sent to still gets a doorbell token while a
 * consumer took one lately: see {@link QuietWakes}. An owed one goes by timer twice that long
 * after the last.
 */
export const OWED_WAKE_MS = 1;

/** How lately a consumer must have taken a wake-up of a queue for its skipped ones to be owed every {@link OWED_WAKE_MS}. */
export const OWED_WHILE_HEARD_MS = 250;

/**
 * Inside a quiet window, how often a queue nobody took a token of lately still gets one while
 * it is sent to (and a skipped one is owed twice that after the last): see {@link QuietWakes}.
 */
export const OWED_UNHEARD_MS = 20;

/** What QuietWakes knows of a queue (ms, performance.now). */
interface Wakes {
  /** Its wake-ups are skipped until then (0: not quiet). */
  until: number;
  /** When its last wake-up went. */
  wokeAt: number;
  /** When a consumer last took one. */
  heardAt: number;
}

/**
 * The queues whose last wake-up nobody took (a doorbell token still there when the next came, a
 * PUBLISH that reached no subscriber): no Celeriac consumer waits on that queue (none runs, it
 * is busy, or only Python workers consume it), so the next ones are skipped for
 * {@link QUIET_WAKE_MS}, then tried again. The PUBLISH was a sixth of the rate of a producer
 * sending one by one. One instance per kind of wake-up.
 *
 * A consumer that was busy when the window began, then drained its queue and blocked, would
 * wait for its poll (`pollIntervalMs`, or the quiet poll of a second: waiting.ts `PollPace`)
 * for the last messages of a burst (ten API clients each waiting for its task, say). So with
 * `wake` given (doorbells: a consumer takes a token only while it waits), a skipped token is
 * owed: a queue whose consumer took one within {@link OWED_WHILE_HEARD_MS} still gets one every
 * {@link OWED_WAKE_MS} inside the window, one nobody took a token of lately (no Celeriac
 * consumer, or one busy for long) every {@link OWED_UNHEARD_MS}: the publish that finds the
 * last one that old sends its own, in the same write as its message, and a skipped one is
 * sent by a timer at twice that after the last one when no later publish did. Each answer ends
 * the window or renews it. A producer sending one by one to a queue only Python workers
 * consume pays a token per 20 ms. A PUBLISH needs none of this: a consumer on pub/sub stays
 * subscribed while it is busy, so one that reached nobody means none runs.
 *
 * Real time (performance.now and a timer), not the broker's clock: this is about who listens
 * now, and a fake clock a test holds still would otherwise skip wake-ups for good.
 */
export class QuietWakes {
  readonly #queues = new Map<string, Wakes>();
  /** Queues with a skipped wake-up that no later one covered yet. */
  readonly #owed = new Set<string>();
  #owedTimer: NodeJS.Timeout | undefined;

  /** @param wake sends one owed wake-up of a queue, reporting its answer to {@link heard}; never throws. */
  constructor(private readonly wake?: (queue: string) => void) {}

  /** Whether to skip the wake-up of `queue` now (see the class comment). */
  skip(queue: string): boolean {
    if (this.#queues.size === 0) return false;
    const q = this.#queues.get(queue);
    if (q === undefined || q.until === 0) return false;
    const now = performance.now();
    if (now >= q.until) {
      q.until = 0;
      return false;
    }
    if (this.wake === undefined) return true;
    const every = owedEvery(q, now);
    if (now - q.wokeAt >= every) {
      q.wokeAt = now;
      this.#owed.delete(queue);
      return false;
    }
    this.#owed.add(queue);
    if (this.#owedTimer === undefined) this.#armOwed(q.wokeAt + 2 * every - now);
    return true;
  }

  /** A wake-up of `queue` was taken by `takers` waiting consumers (0: nobody). */
  heard(queue: string, takers: number): void {
    const now = performance.now();
    let q = this.#queues.get(queue);
    if (q === undefined) {
      // Bounded: a producer sending to ever new queues must not grow this without end.
      if (this.#queues.size >= 1000) this.#queues.clear();
      q = { until: 0, wokeAt: now, heardAt: Number.NEGATIVE_INFINITY };
      this.#queues.set(queue, q);
    }
    if (takers > 0) {
      q.until = 0;
      q.heardAt = now;
    } else {
      if (q.until === 0) q.wokeAt = now;
      q.until = now + QUIET_WAKE_MS;
    }
  }

  /** Sends the owed wake-ups no publish covered since; one that a publish may still cover waits for it. */
  readonly #payOwed = (): void => {
    this.#owedTimer = undefined;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    for (const queue of this.#owed) {
      const q = this.#queues.get(queue);
      // A publish to the queue sends one from wokeAt + owedEvery on: it is given as long again.
      const due = q === undefined ? now : q.wokeAt + 2 * owedEvery(q, now);
      if (due > now) {
        next = Math.min(next, due);
        continue;
      }
      if (q !== undefined) q.wokeAt = now;
      this.#owed.delete(queue);
      this.wake?.(queue);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armOwed(next - now);
  };

  #armOwed(ms: number): void {
    this.#owedTimer = setTimeout(this.#payOwed, ms);
    // A process about to exit does not wait for it: the consumer's poll finds those messages.
    this.#owedTimer.unref();
  }
}

/** How often a quiet queue's skipped wake-ups are paid (see {@link QuietWakes}). */
function owedEvery(q: Wakes, now: number): number {
  return now - q.heardAt < OWED_WHILE_HEARD_MS ? OWED_WAKE_MS : OWED_UNHEARD_MS;
}

/** A checked publish, its envelope written (RedisPublisher `#prepare`). */
interface Prepared {
  readonly routingKey: string;
  readonly raw: string;
  readonly now: number;
  readonly step: PriorityStep;
  /** A future ETA, else undefined. */
  readonly laterAt: number | undefined;
  /** Not the common send: a named exchange, a future ETA or a fence. */
  readonly routed: boolean;
}

/** Publishes envelopes in kombu's layout for a `RedisBroker`. */
export class RedisPublisher {
  readonly #h: PublisherDeps;
  /** Quiet doorbells and wake-up channels, by queue name (no name is built for a skipped one). */
  readonly #quietBells = new QuietWakes((queue) => {
    // ringBell never rejects; a publisher closed meanwhile refuses the command, which is moot.
    this.#command(`ring the doorbell of ${queue}`, (c) => ringBell(c, this.#h.keys.bell(queue), 1)).then((length) => this.#quietBells.heard(queue, length === 1 ? 1 : 0), ignore);
  });
  readonly #quietWakes = new QuietWakes();
  /**
   * Writes the envelopes of single publishes: one-by-one sends of a task differ only in their
   * ids, reprs, body and tag, so the writer fills those into the last one's layout.
   */
  readonly #envelopes = new EnvelopeWriter();
  /** When this publisher looks at the delayed set next (#promoteOnPublish), on the options' clock. */
  #nextPromote = Number.NEGATIVE_INFINITY;

  /** @param deps the broker's connection, keys and ETA services. */
  constructor(deps: PublisherDeps) {
    this.#h = deps;
  }

  #command<T>(what: string, run: (c: Commands) => Promise<T>): Promise<T> {
    return command(this.#h.redis, what, run);
  }

  /**
   * See `RedisBroker.publish`. The common send (default exchange, no ETA, no fence) is a
   * promise chain with no async frame: one-by-one `delay()` is a producer's hot path.
   */
  publish(message: Message, options: PublishOptions): Promise<void> {
    try {
      const p = this.#prepare(message, options);
      if (p.routed) return this.#publishRouted(options, p.routingKey, p.step, p.raw, p.laterAt, p.now);
      // The common send: one queue, no routing step.
      return this.#command(`publish to ${p.routingKey}`, (c) => this.#replicated(c, this.#push(c, p.routingKey, p.step, p.raw))).then(this.#published);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * The common send of {@link publish} (default exchange, no future ETA, no fence) as commands
   * queued on another connection to this server (`RedisBroker.publisherOn`); undefined for any
   * other send, and for one `publish` would refuse (it then says why).
   */
  publisherOn(message: Message, options: PublishOptions): CarriedPublish | undefined {
    let p: Prepared;
    try {
      p = this.#prepare(message, options);
    } catch {
      return undefined;
    }
    // Replicas are waited for on the connection that made the writes: the broker's own.
    if (p.routed || this.#h.options.waitReplicas > 0) return undefined;
    // Failures as `publish`'s command connection gives them (a transport error the publish
    // retry policy sends again; the retry is an ordinary publish), not node-redis's own.
    return (c) => this.#push(c as Commands, p.routingKey, p.step, p.raw).then(this.#published, (err: unknown) => Promise.reject(toTransportError(err, `publish to ${p.routingKey}`)));
  }

  /** Checks a publish and writes its envelope (a uuid7 tag: the message tells when it was sent, queue-age.ts). */
  #prepare(message: Message, options: PublishOptions): Prepared {
    const routingKey = checkQueueName(options.routingKey);
    const deliverAt = options.deliverAt;
    checkDeliverAt(deliverAt);
    const now = this.#h.options.clock.now();
    const raw = this.#envelopes.write(message, { deliveryTag: uuid7(now), exchange: options.exchange, routingKey });
    const later = deliverAt !== undefined && deliverAt > now;
    return { routingKey, raw, now, step: stepOf(options.priority), laterAt: later ? deliverAt : undefined, routed: options.exchange !== '' || options.fence !== undefined || later };
  }

  /** After a publish: publishers help with ETA duties (see {@link RedisPublisher} `#promoteOnPublish`). */
  readonly #published = (): void => this.#promoteOnPublish();

  /** A publish through a named exchange, with a future ETA (`laterAt`), or fenced (beat). */
  async #publishRouted(options: PublishOptions, routingKey: string, step: PriorityStep, raw: string, laterAt: number | undefined, now: number): Promise<void> {
    const h = this.#h;
    const later = laterAt !== undefined;
    let fenced = true;
    // Where the message goes, on the command connection `c`.
    const place = async (c: Commands): Promise<string[]> => {
      const queues = options.exchange === '' ? [routingKey] : await this.route(c, options.exchange, routingKey, options.dropUnrouted === true);
      if (options.fence !== undefined) {
        // Beat's fenced send: lease check and push in one script (fenced-publish.ts).
        fenced = await publishFenced(c as unknown as RedisClient, h.keys, options.fence, queues, step, raw, laterAt);
        // The script sends the wake-ups; the doorbells of blocked consumers are rung here.
        if (fenced && !later) await Promise.all(queues.map((q) => ringBell(c, h.keys.bell(q), 1)));
        return [later ? 'delayed' : 'queued'];
      }
      return Promise.all(queues.map(async (q) => {
        const bucket = h.keys.bucket(q, step);
        // Future ETA: the delayed set while a Celeriac worker will promote it, else the queue
        // (delayed.ts), where its doorbell is rung as for any message.
        if (laterAt !== undefined) {
          const placed = await h.delayed.publish(bucket, raw, laterAt, now, h.keys.wakeChannel(q));
          if (placed === 'queued') await ringBell(c, h.keys.bell(q), 1);
          return placed;
        }
        await this.#push(c, q, step, raw);
        return 'queued';
      }));
    };
    const placed = await this.#command(`publish to ${routingKey}`, (c) => this.#replicated(c, place(c)));
    if (!fenced) throw new CeleriacError(ErrorCodes.FENCED, 'publish refused: the beat lease is no longer held by this sender');
    if (placed.includes('delayed')) h.maintenance.promoteSoon();
    this.#promoteOnPublish();
  }

  /**
   * `sent`, answered only once `waitReplicas` replicas acknowledged the writes made so far on
   * `c` (WAIT covers every earlier write of its connection, so those of `sent` too); fewer
   * within `waitReplicasTimeoutMs` fail it with TRANSPORT, which the publish retry policy sends
   * again. `sent` itself without `waitReplicas`.
   */
  #replicated<T>(c: Commands, sent: Promise<T>): Promise<T> {
    const options = this.#h.options;
    if (options.waitReplicas === 0) return sent;
    return sent.then((value) => confirmReplicated(c, options, 'the message').then(() => value));
  }

  /**
   * LPUSH to the queue's bucket of `step`, then a doorbell token (bell.ts) and a pub/sub
   * wake-up (consumers on Sentinel, older workers), each unless quiet ({@link QuietWakes}: a
   * doorbell is quiet when its last token was not taken).
   */
  #push(c: Commands, queue: string, step: PriorityStep, raw: string): Promise<unknown> {
    const { keys } = this.#h;
    const pushed = c.lPush(keys.bucket(queue, step), raw);
    const rings = !this.#quietBells.skip(queue);
    const wakes = !this.#quietWakes.skip(queue);
    if (!rings && !wakes) return pushed;
    return Promise.all([
      pushed,
      rings ? ringBell(c, keys.bell(queue), 1).then((length) => this.#quietBells.heard(queue, length === 1 ? 1 : 0)) : undefined,
      // Refused (an ACL without the channel: Redis 7's default for a new user), a wake-up is
      // heard by nobody, never a failed publish: the message is in its queue already.
      wakes ? c.publish(keys.wakeChannel(queue), '').then((heard) => this.#quietWakes.heard(queue, heard), () => this.#quietWakes.heard(queue, 0)) : undefined,
    ]);
  }

  /** See `RedisBroker.publishMany`. */
  async publishMany(batch: readonly PublishRequest[]): Promise<void> {
    if (batch.length === 0) return;
    const h = this.#h;
    const now = h.options.clock.now();
    // Future ETAs and fenced sends take the single-message path: its ETA hand-off decides,
    // atomically, between the delayed set and the queue (delayed.ts).
    const isSingle = ({ options: o }: PublishRequest) => o.fence !== undefined || (o.deliverAt !== undefined && o.deliverAt > now);
    // Invalid input fails here with INVALID_ARGUMENT, before anything is sent.
    for (const { options: o } of batch) {
      checkQueueName(o.routingKey);
      checkDeliverAt(o.deliverAt);
    }
    const single = batch.filter(isSingle);
    const bulk = single.length === 0 ? batch : batch.filter((r) => !isSingle(r));
    if (bulk.length > 0) {
      const plan = await planBulkPublish(h.keys, bulk, now, (exchange, key) =>
        this.#command(`route ${exchange}/${key}`, (c) => this.route(c, exchange, key, false)),
      );
      await this.#command(`publish of ${bulk.length} messages`, (c) => this.#replicated(c, sendBulkPlan(c as unknown as BulkCommands, h.keys, plan)));
      this.#promoteOnPublish();
    }
    for (const { message, options } of single) await this.publish(message, options);
  }

  /**
   * The queues a named exchange routes `routingKey` to (direct match on its binding set);
   * none bound falls back to the routing key as queue name unless `dropUnrouted`.
   */
  async route(c: Commands, exchange: string, routingKey: string, dropUnrouted: boolean): Promise<string[]> {
    const queues = new Set<string>();
    for (const member of await c.sMembers(this.#h.keys.binding(exchange))) {
      const binding = parseBindingMember(member);
      if (binding?.routingKey === routingKey && binding.queue !== '') queues.add(binding.queue);
    }
    return queues.size > 0 || dropUnrouted ? [...queues] : [routingKey];
  }

  /**
   * Publishers help promote due ETA messages too, and move delayed messages back to their
   * queues when no Celeriac worker is left to promote them (not while this broker consumes:
   * its maintenance does both). At most once per promote interval while no worker promotes;
   * while some do, as one more of them (every `promoteIntervalMs` times their number plus
   * one, jittered), so that a fleet of API servers sending all the time looks about as often
   * as its workers do, where each server looked five times a second; but at least once per a
   * promoter's presence (15 s by default), so that the rescue after the last worker died waits
   * at most about that much longer.
   */
  #promoteOnPublish(): void {
    const h = this.#h;
    const now = h.options.clock.now();
    if (h.maintenance.state === 'running' || now < this.#nextPromote) return;
    const interval = h.options.promoteIntervalMs;
    this.#nextPromote = now + interval;
    h.transitions
      .promoteDue(now, 500, 'count')
      .then(({ promoters }) => {
        if (promoters === 0) return h.delayed.rescue(now);
        this.#nextPromote = now + Math.min(interval * (promoters + 1) * (0.5 + Math.random()), presenceTtlMs(h.options));
        return undefined;
      })
      .catch((error: unknown) => {
        // A publisher closed right after publishing cuts this short: nothing to report then.
        if (h.lifecycle.state === 'open') h.options.log?.('warn', 'promoting due ETA messages failed', { err: toTransportError(error, 'promote') });
      });
  }
}

const ignore = (): void => undefined;
