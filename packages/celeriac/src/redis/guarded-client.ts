/**
 * @module redis/guarded-client
 * The command connection of an adapter: one lazily opened node-redis client, a per-connection
 * {@link ReplyWatchdog} instead of a timer per command, and TRANSPORT errors naming what
 * failed.
 *
 * Timeouts, all per connection:
 * - a connected client: commands go out with no per-command timer; if replies stop for
 *   `commandTimeoutMs` while commands are outstanding, they all fail with TRANSPORT ("no reply
 *   within N ms") and the connection is replaced, so the next call starts afresh;
 * - a client that is reconnecting: commands issued meanwhile wait in node-redis's offline
 *   queue (node-redis's own timeout, only on this rare path) for what is left of
 *   `offlineQueueTimeoutMs` since the connection went down, so an outage that long fails
 *   later commands at once instead of each waiting it out again (a send's four attempts
 *   took 41 s to fail on a Redis gone for good);
 *   a handshake (after each TCP connect, which node-redis bounds by itself) unanswered for
 *   `connectTimeoutMs` drops the client, since node-redis would wait for it forever
 *   (test/failure/reconnect-into-stall.test.ts);
 * - the first connect is bounded by the same watchdog (a frozen server accepts TCP but never
 *   answers the handshake).
 *
 * Subscriber connections (the backend's result and revoke subscriber, the broker's fanout and
 * wake subscribers) are not guarded clients: replacing one would drop its subscriptions. They
 * get an idle timeout of `IDLE_PING_INTERVALS` PING intervals instead (redis/client.ts),
 * which bounds a handshake into a stalled path and a stalled subscribed connection alike, and
 * node-redis reconnects and subscribes again (test/failure/reconnect-into-stall.test.ts).
 */
import { toTransportError, type RedisClient, type RedisClientOptions } from './client.js';
import { type RedisTarget } from './url.js';
import { LazyRedisClient } from './lazy-client.js';
import { ReplyWatchdog } from './reply-watchdog.js';

/** Options of {@link GuardedRedisClient}: the client's own plus the two timeouts. */
export interface GuardedRedisClientOptions extends Omit<RedisClientOptions, 'offlineQueueTimeoutMs'> {
  /** Longest silence with commands outstanding before the connection is replaced. @default 30000 */
  commandTimeoutMs?: number;
  /** Longest wait of a command issued while reconnecting. @default 10000 */
  offlineQueueTimeoutMs?: number;
}

/**
 * What the adapters issue commands through: a {@link GuardedRedisClient}, or one holder's use
 * of a shared one (redis/shared-commands.ts).
 */
export interface CommandClient {
  /** The connected client; connects on the first call. */
  connect(): Promise<RedisClient>;
  /** Runs `fn` on the connected client; any failure becomes TRANSPORT naming `what`. */
  run<T>(what: string, fn: (client: RedisClient) => Promise<T>): Promise<T>;
  /** As run, errors passed on as they are. */
  send<T>(fn: (client: RedisClient) => Promise<T>): Promise<T>;
  /** Whether the connection is known to be down now. */
  readonly offline: boolean;
}

/** What a command issued while the connection is down fails with once its holder closes (redis/shared-commands.ts `failFast`). */
export const CLOSING_DISCONNECTED = 'Redis is disconnected (closing: not waiting for a reconnect)';

/** A lazily connected command client whose calls never hang. */
export class GuardedRedisClient implements CommandClient {
  readonly #lazy: LazyRedisClient;
  readonly #watchdog: ReplyWatchdog;
  readonly #offlineMs: number;
  /** The connected client, once known: the fast path skips awaiting connect(). */
  #client: RedisClient | undefined;
  /** When the connection went down (performance.now()), until it is ready again, and its last failure. */
  #downSince: number | undefined;
  #lastFailure = '';
  /** Clients dropped because their handshake went unanswered, with what their commands fail with. */
  readonly #unanswered = new WeakMap<RedisClient, Error>();
  /** The newest client made, and those dropped (their close's errors say nothing of the connection now). */
  #latest: RedisClient | undefined;
  readonly #dropped = new WeakSet<RedisClient>();

  /** @param onCreate Called with each new client before it connects (to attach listeners). */
  constructor(target: RedisTarget, options: GuardedRedisClientOptions, onCreate?: (client: RedisClient) => void) {
    // No per-command timer in node-redis: the watchdog and the offline proxy bound waits.
    const handshakeMs = options.connectTimeoutMs ?? 10_000;
    this.#lazy = new LazyRedisClient(target, { ...options, offlineQueueTimeoutMs: null }, (client) => {
      this.#latest = client;
      this.#boundHandshakes(client, handshakeMs);
      // Down from its first failure to its next ready, across the clients of one outage. Not
      // from a dropped client's: its close fails the PINGs it had waiting on a dead path, and
      // the connection then counted as down with nothing connecting, so a command issued
      // `offlineQueueTimeoutMs` later failed as "unreachable" without a try.
      client.on('ready', () => (this.#downSince = undefined));
      client.on('error', (error: unknown) => {
        if (this.#dropped.has(client)) return;
        this.#downSince ??= performance.now();
        this.#lastFailure = describe(error);
      });
      onCreate?.(client);
    });
    this.#offlineMs = options.offlineQueueTimeoutMs ?? 10_000;
    this.#watchdog = new ReplyWatchdog({
      timeoutMs: options.commandTimeoutMs ?? 30_000,
      // A reply this late means the connection is gone in all but name: start afresh.
      onStall: () => this.reset(),
      offline: { timeoutMs: this.#offlineMs, active: () => this.#client !== undefined && !this.#client.isReady },
    });
  }

  /** The connected client; connects on the first call (idempotent, shared by callers). */
  async connect(): Promise<RedisClient> {
    const client = await this.#lazy.connect();
    this.#client = client;
    return client;
  }

  /**
   * Runs `fn` on the connected client under the watchdog.
   * @param what Names the operation in the TRANSPORT error, e.g. "store result of task 1".
   * @throws CeleriacError TRANSPORT on any Redis failure, stall, or connect failure.
   */
  run<T>(what: string, fn: (client: RedisClient) => Promise<T>): Promise<T> {
    // A promise chain, not an async frame: every command of the adapters passes here.
    let sent: Promise<T>;
    try {
      sent = this.send(fn);
    } catch (error) {
      sent = Promise.reject(error as Error);
    }
    return sent.catch((error: unknown) => {
      throw toTransportError(error, what);
    });
  }

  /** As {@link GuardedRedisClient.run}, but errors are passed on as they are (for callers that wrap them). */
  send<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = this.#client;
    if (client !== undefined && client.isReady) return this.#watchdog.watch(fn(client));
    // Down longer than a command may wait: failed at once, and outside the watchdog. There
    // such failures counted as replies, and kept it from failing a script stuck meanwhile in
    // node-redis's offline queue (raw sendCommand ignores the proxy's timeout): a purge hung.
    if (this.#leftOfOutage() < 1) {
      this.connect().catch(() => undefined);
      return Promise.reject(this.#unreachable());
    }
    return this.#watchdog.watch(this.#slow(fn));
  }

  async #slow<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = await this.#connectWithin(this.#leftOfOutage());
    try {
      return await fn(client.isReady ? client : this.#whileDown(client));
    } catch (error) {
      // node-redis says only "The client is closed" of a client dropped for its handshake,
      // and nothing at all (a TimeoutError with no message) of a command its offline queue timed out.
      throw this.#unanswered.get(client) ?? (!client.isReady && isBareTimeout(error) ? new Error(`not sent: no connection to Redis within ${this.#offlineMs} ms (connectTimeoutMs)`, { cause: error }) : error);
    }
  }

  /** What a command fails with once the connection has been down longer than it may wait. */
  #unreachable(): Error {
    return new Error(`not sent: Redis has been unreachable for ${this.#offlineMs} ms (connectTimeoutMs) or more${this.#lastFailure === '' ? '' : `: ${this.#lastFailure}`}`);
  }

  /** Ms a command may still wait for the connection: what is left of the offline-queue timeout since it went down. */
  #leftOfOutage(): number {
    return this.#downSince === undefined ? this.#offlineMs : this.#offlineMs - (performance.now() - this.#downSince);
  }

  /**
   * The client, connecting it if need be (a client dropped mid-outage is opened anew). In an
   * outage the command waits at most `left` ms (send() saw some left) for that connect, which
   * goes on for the next command.
   */
  #connectWithin(left: number): Promise<RedisClient> {
    const connecting = this.connect();
    if (this.#downSince === undefined) return connecting;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(this.#unreachable()), Math.ceil(left))));
    connecting.catch(() => undefined);
    return Promise.race([connecting, late]).finally(() => clearTimeout(timer));
  }

  /**
   * The client for a command issued while reconnecting: it waits in node-redis's offline
   * queue for what is left of the offline-queue timeout since the connection went down.
   * @throws Error when none is left: the outage has lasted that long already.
   */
  #whileDown(client: RedisClient): RedisClient {
    const left = this.#leftOfOutage();
    if (left < 1) throw this.#unreachable();
    return (client as { withCommandOptions(o: { timeout: number }): unknown }).withCommandOptions({ timeout: Math.ceil(left) }) as RedisClient;
  }

  /**
   * Bounds each handshake by `connectTimeoutMs`: node-redis bounds only the TCP connect, so a
   * (re)connect whose handshake went into a dead path (a network that stalled just then, a
   * frozen server that accepts TCP) would stay "reconnecting" forever, every command failing
   * after the offline-queue timeout, for good. Such a client is dropped; the next call opens
   * a new one.
   */
  #boundHandshakes(client: RedisClient, timeoutMs: number): void {
    let timer: NodeJS.Timeout | undefined;
    const clear = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    client.on('connect', () => {
      clear();
      timer = setTimeout(() => {
        timer = undefined;
        if (client.isReady) return;
        this.#unanswered.set(client, new Error(`no answer to the connection's handshake within ${timeoutMs} ms (connectTimeoutMs): the server took the connection but did not reply`));
        if (this.#client === client) {
          this.#client = undefined;
        }
        this.#dropped.add(client);
        this.#lazy.reset(client);
      }, timeoutMs);
      timer.unref();
    });
    client.on('ready', clear);
    client.on('end', clear);
  }

  /** The last failure of the connection while it is not up (connecting or reconnecting), else null. */
  get failure(): string | null {
    return this.#downSince === undefined || this.#lastFailure === '' ? null : this.#lastFailure;
  }

  /** Whether the connection is known to be down now (opened once, not ready: reconnecting). */
  get offline(): boolean {
    return this.#client !== undefined && !this.#client.isReady;
  }

  /** Drops the current connection (pending commands fail); the next call opens a new one. */
  reset(): void {
    this.#client = undefined;
    if (this.#latest !== undefined) this.#dropped.add(this.#latest);
    this.#lazy.reset();
  }

  /** Closes the connection (waiting at most `deadlineMs` for pending replies). Idempotent. */
  async close(deadlineMs?: number): Promise<void> {
    this.#watchdog.stop();
    this.#client = undefined;
    await this.#lazy.close(deadlineMs);
  }
}

/** node-redis's TimeoutError of a command its offline queue held too long: no message, and `name` reads 'Error'. */
function isBareTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === '' && (error.constructor as { name?: unknown }).name === 'TimeoutError';
}

/** An error event's text: node-redis's classes have no message of their own (their name reads 'Error'). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message !== '' ? error.message : String((error.constructor as { name?: unknown }).name ?? error.name);
}
