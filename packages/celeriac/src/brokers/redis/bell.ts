/**
 * @module brokers/redis/bell
 * How an idle consumer waits on a plain (not Sentinel) Redis: blocked in Redis, on its queues'
 * doorbells, with its fetch already there behind the block.
 *
 * Each queue has a doorbell list (`celeriac.bell.<queue>`, keys.ts). A Celeriac publisher
 * pushes a token to it after the message (publisher.ts, bulk-publish.ts). An idle consumer
 * sends, on a connection of its own and in one write, `BRPOP <its queues' bells> <its own bell>
 * <timeout>` and then its fetch.lua call. Redis holds the fetch in the blocked client's input
 * until the block ends, and runs it in the same turn as the push that ends it: the consumer
 * hears of the message and gets it in one reply, where a pub/sub wake-up took a round trip
 * to the worker and a second one for the fetch. The fetch is the ordinary atomic one, so
 * nothing new can be lost: the message is in its queue until the script takes it under a
 * lease. A worker killed while blocked leaves its fetch unrun (Redis drops a closed client's
 * input). A blocked fetch that comes up short deletes its queues' doorbells: their tokens
 * announced messages that are gone (fetch.lua), so stale tokens cost at most one empty fetch.
 *
 * The consumer ends its block early (its poll timer, since messages of Python producers ring no
 * bell; close; a queue or prefetch change; an ETA promotion) by pushing a token to its own
 * doorbell from the command connection (`celeriac.bell~<consumer id>`, which no publisher
 * rings). A token that reaches Redis before the BRPOP does is taken the moment it arrives, so
 * no early end is lost; Redis deletes the list once the token is taken. The fetch's arguments
 * (its clock and lease expiry) are written before the block: its lease is written the block's
 * timeout plus the server's timer granularity longer ({@link BELL_SLACK_MS}), never shorter.
 *
 * Doorbells are a latency aid like the pub/sub wake-ups they replace on such a consumer (which
 * publishers still send, for consumers on Sentinel and older workers): a lost token costs at
 * most a poll interval. A server that refuses the BRPOP (an ACL without it, a Redis before 6.0
 * that takes no fractional timeout) turns the line off; the consumer goes back to pub/sub.
 */
import { closeRedisClient, createRedisClient, type RedisClient, type RedisClientOptions } from '../../redis/client.js';
import { classifyRedisFailure } from '../../redis/error-kind.js';
import type { RedisTarget } from '../../redis/url.js';
import type { SendCommand } from './transitions.js';

/**
 * Added to the block's timeout in the lease a blocked fetch writes: Redis ends timed-out
 * blocks from its cron, every 100 ms at the default `hz` of 10.
 */
export const BELL_SLACK_MS = 100;

/** Most tokens a doorbell keeps: a publisher that finds more trims it (nobody is waiting). */
export const BELL_MAX_TOKENS = 64;

/**
 * Most tokens a bulk publish pushes to one doorbell (and a promotion or the recovery sweep, in
 * their scripts): each wakes one blocked consumer. As many as a doorbell keeps: at 16, with idle
 * workers polling once a second (waiting.ts PollPace), a batch of 100 woke 16 of them and left
 * the rest to their poll.
 */
export const BELL_BULK_TOKENS = BELL_MAX_TOKENS;

/** The commands a publisher rings a doorbell with. */
export interface BellCommands {
  lPush(key: string, values: string[]): Promise<number>;
  lTrim(key: string, start: number, stop: number): Promise<unknown>;
}

/**
 * Pushes `tokens` tokens to the doorbell `bell` (after the messages they announce: a
 * consumer woken first would find nothing). Resolves to the doorbell's length after the push,
 * before a blocked consumer took its token: `tokens` when it held none, so more means that
 * nobody took the last ones. Past {@link BELL_MAX_TOKENS} it is trimmed to one. Never rejects:
 * a doorbell is a latency aid, and a refused one (an ACL that allows a producer its queues'
 * keys only, a full Redis) must not fail a publish whose message is already in its queue (the
 * caller would send it again); it resolves to `Infinity`, which reads as "nobody took it".
 */
export function ringBell(c: BellCommands, bell: string, tokens: number): Promise<number> {
  return c
    .lPush(bell, tokens === 1 ? ONE_TOKEN : new Array<string>(tokens).fill(''))
    .then((length) => (length > BELL_MAX_TOKENS ? c.lTrim(bell, 0, 0).then(() => length) : length))
    .catch(() => Number.POSITIVE_INFINITY);
}

const ONE_TOKEN = [''];

/** A blocked fetch: its reply, and whether a doorbell token ended the block. */
export interface BellBlock<T> {
  readonly reply: Promise<T>;
  /** True when a token ended the block; false when it timed out, was unblocked or failed. */
  readonly rang: Promise<boolean>;
}

const noop = (): void => undefined;

type Raw = { sendCommand(args: readonly string[]): Promise<unknown> };

/**
 * A block out on the line: its timeout, its fetch's reply settled, and whether its BRPOP has
 * answered (the block has ended; the fetch's reply may still be on its way).
 */
interface PendingBlock {
  readonly timeoutMs: number;
  readonly settled: Promise<void>;
  ended: boolean;
}

/** One consumer's blocking connection (see the module header). */
export class BellLine {
  #client: RedisClient | undefined;
  /** The block out now, if any. */
  #pending: PendingBlock | undefined;
  #closed = false;
  #onReady: () => void = () => undefined;
  /** Why the line cannot be used: the server refused the BRPOP. */
  #refused: Error | undefined;

  /**
   * @param own the line's own doorbell (keys.ts `unblockBell`): a token there ends its block.
   * @param ring pushes a token to `own` on another connection (the command connection).
   */
  constructor(
    private readonly target: RedisTarget,
    private readonly clientOptions: Omit<RedisClientOptions, 'name'>,
    readonly own: string,
    private readonly ring: (key: string) => Promise<unknown>,
  ) {}

  /** Whether blocks can be sent: open and not refused by the server. */
  get usable(): boolean {
    return !this.#closed && this.#refused === undefined;
  }

  /** Whether a block can go now: usable, and the connection ready (not connecting or reconnecting). */
  get ready(): boolean {
    return this.usable && this.#client?.isReady === true;
  }

  /** The server's refusal that turned the line off, if any. */
  get refused(): Error | undefined {
    return this.#refused;
  }

  /**
   * Opens the connection ahead of the first block; `onReady` hears each time it is ready
   * again (a consumer that waited without a block meanwhile can block now).
   */
  connect(onReady: () => void): void {
    this.#onReady = onReady;
    if (this.usable) this.#connect();
  }

  /**
   * Blocks on `bells` and its own doorbell, with `fetch` sent right behind in the same write;
   * `fetch` must issue its command synchronously on the `send` it is given, and write its lease
   * `slackMs` longer. The block's own timeout, `pollMs` plus {@link BELL_SLACK_MS}, only
   * bounds a block nobody ended. Undefined while the connection is not ready (connecting, or
   * reconnecting after a drop): a block queued offline would wait for the reconnect, so the
   * consumer waits without one meanwhile.
   */
  block<T>(bells: readonly string[], pollMs: number, fetch: (send: SendCommand, slackMs: number) => Promise<T>): BellBlock<T> | undefined {
    if (!this.ready) return undefined;
    const client = this.#connect();
    const timeoutMs = pollMs + BELL_SLACK_MS;
    const popped = (client as unknown as Raw).sendCommand(['BRPOP', ...bells, this.own, (timeoutMs / 1000).toFixed(3)]) as Promise<[string, string] | null>;
    const reply = fetch(<R>(fn: (c: RedisClient) => Promise<R>) => fn(client), timeoutMs + BELL_SLACK_MS);
    const settled = reply.then(noop, noop);
    const pending: PendingBlock = { timeoutMs, settled, ended: false };
    this.#pending = pending;
    void settled.then(() => {
      if (this.#pending === pending) this.#pending = undefined;
    });
    const rang = popped.then(
      (r) => ((pending.ended = true), r !== null && r[0] !== this.own),
      (error: unknown) => ((pending.ended = true), this.#refuse(error), false),
    );
    return { reply, rang };
  }

  /**
   * Ends the pending block, if any, early: a token on its own doorbell, which a BRPOP that has
   * not reached Redis yet takes as soon as it does. Its fetch runs at once, as a poll.
   * A block whose connection is stuck has that connection dropped, which fails it. Stuck means:
   * Redis answered the token's push on the command connection, so it is serving and took the
   * token, yet this BRPOP stayed unanswered for a block's timeout and more after that. Not a
   * Redis busy with a long script (the push waits behind it too), nor a BRPOP that answered
   * while its fetch's reply is still on its way (a big message on a slow link): dropping those
   * failed a fetch that had taken its messages, and, the message being the same when its lease
   * ran out, every later fetch of it, for good. A connection that dies under such a reply is
   * found by its idle timeout (no byte for three PING intervals), as any other is.
   * Nor an event loop that a task held past that time: timers run before a stalled loop reads
   * its sockets, so the verdict waits for the reads that were due (setImmediate runs after them).
   *
   * A push that fails (the command connection down, or its command timed out) is sent again a
   * block's timeout later, while the block is still out: when every connection of a worker
   * died silently at once, the push fails until the command connection is back, and the block
   * on the dead path was then found only by the idle timeout, 30-40 s after the drop
   * (test/failure/network-blackhole.test.ts).
   */
  unblock(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    const stuck = () => this.#pending === pending && !pending.ended && !this.#closed;
    const push = (): void => {
      this.ring(this.own).then(
        () => {
          if (!stuck()) return;
          const timer = setTimeout(() => {
            setImmediate(() => {
              if (stuck()) this.#drop();
            });
          }, pending.timeoutMs + 2 * BELL_SLACK_MS);
          timer.unref();
          void pending.settled.then(() => clearTimeout(timer));
        },
        () => {
          if (!stuck()) return;
          const again = setTimeout(() => {
            if (stuck()) push();
          }, pending.timeoutMs);
          again.unref();
          void pending.settled.then(() => clearTimeout(again));
        },
      );
    };
    push();
  }

  /** Closes the connection; call once no block is pending (the consumer's loop has ended). */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await closeRedisClient(client);
  }

  #connect(): RedisClient {
    if (this.#client !== undefined) return this.#client;
    const client = createRedisClient(this.target, { ...this.clientOptions, name: 'celeriac-broker-bell' });
    client.on('ready', () => this.#onReady());
    // A failed connect is retried by the client's reconnect policy; until it is ready the
    // consumer waits without a block.
    client.connect().catch(() => undefined);
    return (this.#client = client);
  }

  /** Drops a stuck connection, which fails the pending block, and opens a new one. */
  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) void closeRedisClient(client, 0);
    if (this.usable) this.#connect();
  }

  /** Turns the line off when the server refused the BRPOP (not when the connection failed); its fetch ran at once. */
  #refuse(error: unknown): undefined {
    const kind = classifyRedisFailure(error);
    if ((kind === 'refused' || kind === 'final') && this.#refused === undefined) this.#refused = error as Error;
    return undefined;
  }
}
