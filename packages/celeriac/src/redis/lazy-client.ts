/**
 * @module redis/lazy-client
 * One Redis connection opened on first use: adapters connect lazily, `connect()` is
 * idempotent, a failed first connect can be retried by the next call, and `close()` may run
 * at any moment (even while connecting). One asked for RESP3 (`resp3`) that the server refuses
 * (`HELLO` unknown before Redis 6.0, or not allowed by an ACL) connects again at once in RESP2,
 * and stays in RESP2.
 */
import { closeRedisClient, createRedisClient, toTransportError } from './client.js';
import type { RedisClient, RedisClientOptions } from './client.js';
import type { RedisTarget } from './url.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';
import { chain } from './error-kind.js';

/** A node-redis client created and connected on the first {@link LazyRedisClient.connect}. */
export class LazyRedisClient {
  readonly #target: RedisTarget;
  #options: RedisClientOptions;
  readonly #onCreate: ((client: RedisClient) => void) | undefined;
  #connecting: Promise<RedisClient> | undefined;
  #client: RedisClient | undefined;
  #closed = false;

  /**
   * @param onCreate Called with each new client before it connects (to attach listeners).
   */
  constructor(target: RedisTarget, options: RedisClientOptions, onCreate?: (client: RedisClient) => void) {
    this.#target = target;
    this.#options = options;
    this.#onCreate = onCreate;
  }

  /**
   * The connected client; connects on the first call. Concurrent callers share one attempt.
   * @throws CeleriacError TRANSPORT when the first connection fails (the next call retries),
   *   STATE after {@link LazyRedisClient.close}.
   */
  connect(): Promise<RedisClient> {
    if (this.#closed) {
      return Promise.reject(new CeleriacError(ErrorCodes.STATE, `Redis connection "${this.#options.name}" is closed`));
    }
    this.#connecting ??= this.#open();
    return this.#connecting;
  }

  /**
   * The client when it is connected and ready now, else undefined (nothing is opened):
   * for callers that must queue commands in the current turn or not at all.
   */
  get ready(): RedisClient | undefined {
    const client = this.#client;
    return client !== undefined && client.isReady ? client : undefined;
  }

  /** Whether the connection is not up now: a client exists and is not ready (connecting or reconnecting). */
  get offline(): boolean {
    return this.#client !== undefined && !this.#client.isReady;
  }

  /** Whether the connection speaks RESP3 (asked for, and not refused by the server). */
  get resp3(): boolean {
    return this.#options.resp3 === true;
  }

  async #open(): Promise<RedisClient> {
    const client = createRedisClient(this.#target, this.#options);
    this.#client = client;
    this.#onCreate?.(client);
    try {
      await client.connect();
      return client;
    } catch (err) {
      // Only if still current: a reset() meanwhile may already have started a newer client.
      const current = this.#client === client;
      if (current) {
        this.#connecting = undefined;
        this.#client = undefined;
      }
      await closeRedisClient(client, 0);
      if (current && !this.#closed && this.#options.resp3 === true && refusedHello(err)) {
        this.#options.log?.('warn', 'the Redis server refused RESP3 (HELLO): this connection speaks RESP2', { connection: this.#options.name, reason: coerceError(err).message });
        this.#options = { ...this.#options, resp3: false };
        return (this.#connecting = this.#open());
      }
      throw toTransportError(err, `connect to ${this.#target.host}:${this.#target.port} (${this.#options.name})`);
    }
  }

  /**
   * Drops `client` if it is still the current one (default: whichever is current, even one
   * still connecting), destroying its socket and failing its pending commands, so the next
   * {@link LazyRedisClient.connect} opens a fresh connection.
   * For a connection that stopped answering without closing (a half-dead TCP peer, a frozen
   * server): node-redis would otherwise wait on it until TCP gives up, which can take minutes.
   */
  reset(client?: RedisClient): void {
    if (this.#client === undefined || (client !== undefined && this.#client !== client)) return;
    const current = this.#client;
    this.#client = undefined;
    this.#connecting = undefined;
    void closeRedisClient(current, 0);
  }

  /** Closes the connection (waiting at most `deadlineMs` for pending replies). Idempotent. */
  async close(deadlineMs?: number): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    this.#connecting = undefined;
    if (client !== undefined) await closeRedisClient(client, deadlineMs);
  }
}

/** Whether `err` is a server's refusal of `HELLO` (unknown before Redis 6.0, or denied by an ACL). */
function refusedHello(err: unknown): boolean {
  for (const e of chain(err)) if (/\bhello\b/i.test(e.message)) return true;
  return false;
}
