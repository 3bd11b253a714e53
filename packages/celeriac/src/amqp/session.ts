/**
 * @module amqp/session
 * One AMQP connection that heals itself, shared by the RabbitMQ broker and the `rpc://`
 * backend (each opens its own session, as each Celery process does).
 *
 * - {@link AmqpSession.connection} opens the connection on first use; callers that need it
 *   while it is down wait for the next successful attempt, at most `waitMs`, then get a
 *   TRANSPORT error (never a hang).
 * - When the broker closes the connection (320 CONNECTION_FORCED on a restart, a lost socket,
 *   a missed heartbeat) the session reconnects with capped exponential backoff (0.1 s
 *   doubling to 5 s) until closed, then calls every {@link AmqpSession.onReconnect} listener so
 *   consumers re-declare their topology and consume again (docs/protocol-amqp.md §7, §8.10).
 * - With several targets (a failover list, `amqp://a;amqp://b`: the nodes of one cluster)
 *   each attempt takes the next node in turn, kombu's round-robin, and the backoff grows only
 *   once every node has refused; a lost connection starts with the node after the lost one.
 * - Channels belong to one connection: {@link ChannelSlot} keeps one lazily (re)opened channel
 *   for a role (publishing with confirms, declaring), replaced when the broker closes it with
 *   a channel error (404, 406), which is never fatal.
 */
import { isIP } from 'node:net';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { checkHeaderText } from './strict-text.js';
import type { AmqpTarget } from './url.js';
import { tlsFileOptions } from '../core/tls-files.js';
import type { TransportLog } from '../core/transport-table.js';
import { Backoff, type BackoffPolicy } from '../core/backoff.js';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';

/** py-amqp's names of the TLS files, in errors. */
const PY_AMQP_NAMES = { ca: 'ca_certs', cert: 'certfile', key: 'keyfile' } as const;

/**
 * Node TLS socket options of a target: `brokerUseSsl`'s files and checks, and SNI for a host
 * name (not an IP address: RFC 6066; Node checks the IP against the certificate then).
 */
function tlsSocket(t: AmqpTarget): Record<string, unknown> {
  const name = t.servername ?? t.hostname;
  return { ...tlsFileOptions(t.tlsFiles, PY_AMQP_NAMES, 'RabbitMQ TLS (brokerUseSsl)'), ...(isIP(name) === 0 ? { servername: name } : {}) };
}

/** Options of {@link AmqpSession}. */
export interface AmqpSessionOptions {
  /** Where connection trouble is reported. */
  log: TransportLog;
  /** Longest wait for a connection before an operation fails. @default 30000 */
  waitMs?: number;
  /** Shown in RabbitMQ's connection list (`connection_name`). */
  connectionName?: string;
  /** How to log in (Celery's `broker_login_method`). @default PLAIN, with the URL's user and password */
  loginMethod?: AmqpLoginMethod;
}

/** The SASL mechanisms RabbitMQ offers: the URL's user and password, or the client certificate (EXTERNAL). */
export type AmqpLoginMethod = 'PLAIN' | 'AMQPLAIN' | 'EXTERNAL';

/** Waits between rounds of failed connects: 0.1 s doubling to 5 s. */
const RECONNECT_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 100, growth: { factor: 2 }, maxMs: 5000 });

/** A self-healing AMQP connection. */
export class AmqpSession {
  #model: ChannelModel | undefined;
  #opening: Promise<ChannelModel> | undefined;
  #closed = false;
  #generation = 0;
  readonly #listeners = new Set<() => void>();
  readonly #waitMs: number;
  /** Why the last connect failed, named by a wait that times out (an untrusted certificate, say). */
  #lastFailure: Error | undefined;
  readonly #targets: readonly AmqpTarget[];
  /** Index of the node the next attempt goes to. */
  #next = 0;
  #target: AmqpTarget;

  constructor(
    targets: AmqpTarget | readonly AmqpTarget[],
    private readonly options: AmqpSessionOptions,
  ) {
    this.#targets = Array.isArray(targets) ? [...(targets as readonly AmqpTarget[])] : [targets as AmqpTarget];
    if (this.#targets.length === 0) throw new CeleriacError(ErrorCodes.CONFIG, 'an AMQP session needs at least one broker URL');
    this.#target = this.#targets[0] as AmqpTarget;
    this.#waitMs = options.waitMs ?? 30_000;
  }

  /** The node of the current (or last) connection. */
  get target(): AmqpTarget {
    return this.#target;
  }

  /** Increments with every new connection; channels remember theirs. */
  get generation(): number {
    return this.#generation;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while a connection is open. */
  get connected(): boolean {
    return this.#model !== undefined;
  }

  /**
   * True while the connection it had is lost and not back yet: known to be down. False before
   * the first connection (it may never have been up), while connected, and after {@link close}.
   * A stalled connection that has not closed is not known to be down.
   */
  get offline(): boolean {
    return this.#generation > 0 && this.#model === undefined && !this.#closed;
  }

  /** True while RabbitMQ has blocked the connection (a memory or disk alarm): publishes wait, and confirms with them. */
  get blocked(): boolean {
    return (this.#model as MuxInternals | undefined)?.connection?.blocked === true;
  }

  /**
   * Gives up the connection of `generation` as dead, when it is still the current one: its
   * socket is destroyed, so its channels close (their unconfirmed publishes fail) and the
   * session reconnects, as after any lost connection. For a link that silently drops what is
   * sent, which the heartbeat would notice only two to three intervals later.
   */
  abandon(generation: number, reason: string): void {
    const model = this.#model;
    if (model === undefined || this.#generation !== generation || this.#closed) return;
    const stream = (model as MuxInternals).connection?.stream as { destroy?: (err: Error) => void } | undefined;
    this.options.log('warn', `giving up the connection to RabbitMQ: ${reason}`, { server: this.#where() });
    stream?.destroy?.(new Error(reason));
  }

  /** Calls `fn` after every reconnection (not after the first connection). */
  onReconnect(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** The open connection, opening it (with backoff) when needed; waits at most `waitMs`. */
  async connection(): Promise<ChannelModel> {
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'AMQP session is closed');
    if (this.#model !== undefined) return this.#model;
    this.#opening ??= this.#openLoop();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new CeleriacError(ErrorCodes.TRANSPORT, `RabbitMQ at ${this.#where()} unreachable for ${this.#waitMs} ms${this.#lastFailure === undefined ? '' : `: ${this.#lastFailure.message}`}`)),
        this.#waitMs,
      );
    });
    try {
      return await Promise.race([this.#opening, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  #where(): string {
    return `${this.target.hostname}:${this.target.port} vhost ${JSON.stringify(this.target.vhost)}`;
  }

  async #openLoop(): Promise<ChannelModel> {
    const backoff = new Backoff(RECONNECT_BACKOFF);
    let lastLogged = '';
    for (let attempt = 1; ; attempt++) {
      if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'AMQP session is closed');
      this.#target = this.#targets[this.#next % this.#targets.length] as AmqpTarget;
      this.#next = (this.#next + 1) % this.#targets.length;
      try {
        const model = await this.#connectOnce();
        this.#lastFailure = undefined;
        this.#model = model;
        this.#opening = undefined;
        this.#generation++;
        if (this.#generation > 1) {
          this.options.log('warn', 'reconnected to RabbitMQ', { server: this.#where() });
          for (const fn of this.#listeners) fn();
        }
        return model;
      } catch (err) {
        const e = coerceError(err);
        // A setting no retry can fix (an unreadable TLS file): every wait fails with it.
        if (e instanceof CeleriacError && e.code === ErrorCodes.CONFIG) throw e;
        this.#lastFailure = e;
        // Every node of the list once before waiting.
        const roundDone = attempt % this.#targets.length === 0;
        const delay = roundDone ? backoff.next() : 0;
        const next = roundDone ? `retrying in ${delay} ms` : 'trying the next node';
        if (e.message !== lastLogged || this.#targets.length > 1) this.options.log('warn', `cannot connect to RabbitMQ; ${next}`, { server: this.#where(), err: e });
        lastLogged = e.message;
        if (!roundDone) continue;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async #connectOnce(): Promise<ChannelModel> {
    const t = this.target;
    // Loaded on the first connect: a process on Redis or memory:// never loads the AMQP client
    // (about 6 MB of a worker's RSS).
    const amqp = (await import('amqplib')).default;
    const login = this.options.loginMethod;
    const credentials = login === 'EXTERNAL' ? amqp.credentials.external() : login === 'AMQPLAIN' ? amqp.credentials.amqplain(t.username, t.password) : undefined;
    const model = await amqp.connect(
      {
        protocol: t.tls ? 'amqps' : 'amqp',
        hostname: t.hostname,
        port: t.port,
        username: t.username,
        password: t.password,
        vhost: t.vhost,
        heartbeat: t.heartbeatSec,
        frameMax: t.frameMax,
      },
      {
        timeout: t.connectTimeoutMs,
        // amqplib leaves Nagle on; py-amqp turns it off (TCP_NODELAY), and so do we: the frames of
        // a turn already leave in one writev (batchFrames), and Nagle held back the next turn's.
        noDelay: true,
        clientProperties: { connection_name: this.options.connectionName ?? 'celeriac', product: 'celeriac' },
        ...(t.tls ? tlsSocket(t) : {}),
        ...(credentials === undefined ? {} : { credentials }),
      },
    );
    if (this.#closed) {
      await model.close().catch(() => undefined);
      throw new CeleriacError(ErrorCodes.STATE, 'AMQP session is closed');
    }
    batchFrames(model);
    checkHeaderText(model);
    model.on('error', (err: Error) => this.options.log('warn', 'RabbitMQ connection error', { server: this.#where(), err }));
    model.on('close', () => {
      if (this.#model !== model) return;
      this.#model = undefined;
      if (this.#closed) return;
      this.options.log('warn', 'connection to RabbitMQ lost; reconnecting', { server: this.#where() });
      this.#opening ??= this.#openLoop();
      this.#opening.catch(() => undefined);
    });
    return model;
  }

  /** Closes the connection; pending waits fail with STATE. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const model = this.#model;
    this.#model = undefined;
    if (model !== undefined) await model.close().catch(() => undefined);
  }
}

interface MuxInternals {
  readonly connection?: { readonly stream?: unknown; readonly muxer?: { _readIncoming?: unknown }; readonly blocked?: boolean };
}

/**
 * amqplib's multiplexer hands each frame to the socket with its own `write`, which is one
 * system call (and, with Nagle off, one TCP segment) per frame: a worker acking and
 * publishing results pays that twice per task, and RabbitMQ reads as many segments. The
 * socket is corked for each turn of the multiplexer, so the frames of one turn leave in
 * one `writev`. Uses amqplib internals (`connection.muxer`, `connection.stream`), checked
 * first: when they are not there (another amqplib version), nothing changes.
 */
export function batchFrames(model: ChannelModel): void {
  const conn = (model as unknown as MuxInternals).connection;
  const stream = conn?.stream as { cork?: unknown; uncork?: unknown } | undefined;
  const mux = conn?.muxer;
  if (mux === undefined || typeof mux._readIncoming !== 'function' || typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return;
  const readIncoming = mux._readIncoming as (this: unknown) => void;
  const cork = stream.cork as (this: unknown) => void;
  const uncork = stream.uncork as (this: unknown) => void;
  mux._readIncoming = function (this: unknown): void {
    cork.call(stream);
    try {
      readIncoming.call(this);
    } finally {
      uncork.call(stream);
    }
  };
}

/** One channel for one role, reopened after the broker (or the connection) closes it. */
export class ChannelSlot<C extends Channel = Channel> {
  #channel: Promise<C> | undefined;
  /** The channel {@link #channel} resolved to, while it is the slot's. */
  #ready: C | undefined;

  constructor(
    private readonly session: AmqpSession,
    private readonly confirm: boolean,
    private readonly setup: (channel: C) => void = () => undefined,
  ) {}

  /** The open channel (opens one when none is). */
  get(): Promise<C> {
    if (this.#channel !== undefined) return this.#channel;
    const opening = this.#open();
    this.#channel = opening;
    opening.then(
      (channel) => {
        if (this.#channel === opening) this.#ready = channel;
      },
      () => {
        if (this.#channel === opening) this.#channel = undefined;
      },
    );
    return opening;
  }

  /** The channel when one is open now (no wait), else undefined: for a per-message path. */
  current(): C | undefined {
    return this.#ready;
  }

  async #open(): Promise<C> {
    const model = await this.session.connection();
    const channel = (this.confirm ? await model.createConfirmChannel() : await model.createChannel()) as C;
    const mine = this.#channel;
    const forget = () => {
      if (this.#channel !== mine) return;
      this.#channel = undefined;
      this.#ready = undefined;
    };
    channel.on('close', forget);
    // A channel error (404, 406) also closes the channel; the caller of the failed
    // operation gets the error, later callers a fresh channel.
    channel.on('error', forget);
    this.setup(channel);
    return channel;
  }

  /**
   * Runs `fn` on the channel; a channel-closing error drops the channel and goes up. So does
   * an error amqplib raises itself (no AMQP reply code), after which the channel is closed:
   * an argument it cannot encode (a name longer than 255 bytes) throws after amqplib took
   * the channel's one reply slot, and every later operation on that channel would wait forever.
   */
  async run<T>(fn: (channel: C) => Promise<T>): Promise<T> {
    const channel = await this.get();
    try {
      return await fn(channel);
    } catch (err) {
      if (typeof (err as { code?: unknown } | null)?.code !== 'number') this.#retire(channel);
      throw err;
    }
  }

  /**
   * {@link run} for an operation that may be made twice (a declare, a purge, an unbind): when
   * the channel closed under it before its reply, because a sibling's 404 or 406 on the shared
   * channel ended it (amqplib: "Channel ended, no reply will be forthcoming"), it runs once more
   * on a new channel. Its own failure goes up as it is.
   */
  async runIdempotent<T>(fn: (channel: C) => Promise<T>): Promise<T> {
    try {
      return await this.run(fn);
    } catch (err) {
      if (!endedByAnother(err)) throw err;
      return this.run(fn);
    }
  }

  /** Drops `channel` if it is still the slot's, and closes it. */
  #retire(channel: C): void {
    if (this.#ready !== channel) return;
    this.#channel = undefined;
    this.#ready = undefined;
    channel.close().catch(() => undefined);
  }

  /** Closes the channel if open. */
  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    this.#ready = undefined;
    if (channel !== undefined) await (await channel.catch(() => undefined))?.close().catch(() => undefined);
  }
}

/** amqplib's error for an operation whose channel closed before its reply: not its own failure. */
export function endedByAnother(err: unknown): boolean {
  return err instanceof Error && typeof (err as { code?: unknown }).code !== 'number' && /^Channel (ended|closed)/.test(err.message);
}

export type { Channel, ConfirmChannel };
