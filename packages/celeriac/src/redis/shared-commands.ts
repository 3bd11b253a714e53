/**
 * @module redis/shared-commands
 * One command connection for an app's Redis broker and Redis result backend when both name
 * the same server, database and login with the same timeouts (Celery's usual set-up:
 * `redis://host/0` for both).
 *
 * A worker acks each task on the broker's connection and stores its result on the backend's,
 * in the same turn of the event loop. On two connections that is two socket writes, two reads
 * and two wake-ups of Redis per task where one of each does: with one connection, node-redis
 * writes both scripts together and Redis answers both in one reply. A local socket write costs
 * tens of µs of CPU on a VM, so a round trip (`delay()` then `get()`) and a worker at low
 * concurrency pay for it on every task (bench/rt-probe.ts prints the writes per round trip).
 *
 * Each holder releases its hold on close; the connection closes with the last one. Subscriber
 * connections are never shared (their subscriptions are their own).
 */
import { toTransportError, type RedisClient } from './client.js';
import { CLOSING_DISCONNECTED, GuardedRedisClient, type CommandClient, type GuardedRedisClientOptions } from './guarded-client.js';
import { serverIdentity, type RedisTarget } from './url.js';
import { TickTurn } from './tick-batch.js';

/**
 * Ranks in a connection's {@link TickTurn}: a turn's result stores are written before its acks,
 * so that a write cut short (a killed worker, a dropped connection) can lose an ack after its
 * task's stored end (the message comes back), never the end after the ack.
 */
export const TURN_RANKS = Object.freeze({ resultStores: 0, acks: 1 });

/** A holder's use of a command connection, shared or its own: its commands go through it. */
export interface CommandConnection extends CommandClient {
  /** The connection (the same object for every holder of a shared one). */
  readonly client: GuardedRedisClient;
  /**
   * The connection's {@link TickTurn}: the holders' batches that join it go out together, in
   * rank order (the result backend's stores, rank 0, before the broker's acks, rank 1).
   */
  readonly turn: TickTurn;
  /** Whether another holder uses this connection now (an app's Redis broker and backend: their batches share one write). */
  readonly shared: boolean;
  /**
   * From now on this holder's commands issued while the connection is down fail at once (the
   * holder closes); another holder's still wait for a reconnect.
   */
  failFast(): void;
  /** Ends this holder's use; the connection closes (waiting at most `deadlineMs` for replies) when no other holder uses it. Idempotent. */
  release(deadlineMs?: number): Promise<void>;
}

/** What makes two command connections interchangeable: where they go, as whom, and how long they wait. */
export function commandConnectionKey(target: RedisTarget, options: GuardedRedisClientOptions): string {
  const { commandTimeoutMs, connectTimeoutMs, offlineQueueTimeoutMs, pingIntervalMs, idleTimeoutMs } = options;
  return JSON.stringify([serverIdentity(target), commandTimeoutMs, connectTimeoutMs, offlineQueueTimeoutMs, pingIntervalMs, idleTimeoutMs]);
}

/** One holder's use of a connection, shared or not: its own fail-fast switch, the connection's commands. */
class Hold implements CommandConnection {
  #failFast = false;
  #released = false;
  /**
   * Rejected by {@link failFast}: the commands this holder issued while the connection was
   * down, still waiting for it, fail with it. They waited out the offline-queue timeout (twice
   * with a fetch's retry), and a broker closed with Redis down took 20 s to close.
   */
  #closing: Promise<never> | undefined;
  #abandon: (error: Error) => void = () => undefined;

  constructor(
    readonly client: GuardedRedisClient,
    readonly turn: TickTurn,
    private readonly holders: () => number,
    private readonly onRelease: (deadlineMs?: number) => Promise<void>,
  ) {}

  get shared(): boolean {
    return !this.#released && this.holders() > 1;
  }

  get offline(): boolean {
    return this.client.offline;
  }

  connect(): Promise<RedisClient> {
    return this.client.connect();
  }

  send<T>(fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.client.offline) return this.client.send(fn);
    return this.#failFast ? Promise.reject(new Error(CLOSING_DISCONNECTED)) : Promise.race([this.client.send(fn), this.#closingSignal()]);
  }

  run<T>(what: string, fn: (client: RedisClient) => Promise<T>): Promise<T> {
    if (!this.client.offline) return this.client.run(what, fn);
    if (this.#failFast) return Promise.reject(toTransportError(new Error(CLOSING_DISCONNECTED), what));
    const closing = this.#closingSignal().catch((error: unknown) => {
      throw toTransportError(error, what);
    });
    return Promise.race([this.client.run(what, fn), closing]);
  }

  failFast(): void {
    this.#failFast = true;
    this.#abandon(new Error(CLOSING_DISCONNECTED));
  }

  #closingSignal(): Promise<never> {
    if (this.#closing === undefined) {
      this.#closing = new Promise<never>((_resolve, reject) => (this.#abandon = reject));
      this.#closing.catch(() => undefined);
    }
    return this.#closing;
  }

  release(deadlineMs?: number): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#released = true;
    return this.onRelease(deadlineMs);
  }
}

/** A connection of the holder's own: it closes with its holder. */
export function ownCommandConnection(target: RedisTarget, options: GuardedRedisClientOptions): CommandConnection {
  const client = new GuardedRedisClient(target, options);
  return new Hold(client, new TickTurn(), () => 1, (deadlineMs) => client.close(deadlineMs));
}

interface Entry {
  readonly client: GuardedRedisClient;
  readonly turn: TickTurn;
  holders: number;
}

/** The command connections of one app's Redis adapters (transports.ts keeps one per app). */
export class RedisConnections {
  readonly #entries = new Map<string, Entry>();

  /**
   * The command connection to `target` with `options`: the one another holder of this app
   * already uses when the {@link commandConnectionKey keys} match (its name and log are the
   * first holder's), else a new one. Connects lazily, as any GuardedRedisClient.
   */
  acquire(target: RedisTarget, options: GuardedRedisClientOptions): CommandConnection {
    const key = commandConnectionKey(target, options);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { client: new GuardedRedisClient(target, options), turn: new TickTurn(), holders: 0 };
      this.#entries.set(key, entry);
    }
    entry.holders++;
    const held = entry;
    return new Hold(held.client, held.turn, () => held.holders, (deadlineMs) => {
      if (--held.holders > 0) return Promise.resolve();
      if (this.#entries.get(key) === held) this.#entries.delete(key);
      return held.client.close(deadlineMs);
    });
  }

  /** Connections held now (tests). */
  get size(): number {
    return this.#entries.size;
  }
}
