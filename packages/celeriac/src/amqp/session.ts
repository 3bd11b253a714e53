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
 * - Channels belong to one connection: a ChannelSlot (channel-slot.ts) keeps one lazily
 *   (re)opened channel for a role (publishing with confirms, declaring);
 *   {@link AmqpSession.openChannel} opens one for a piece of work, its replies watched.
 * - A reply RabbitMQ owes (a confirm, an operation's answer) that is `replyTimeoutMs` late gives
 *   the connection up ({@link AmqpSession.awaitReply}): a link that died silently.
 */
import { isIP } from 'node:net';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { checkHeaderText } from './strict-text.js';
import { watchReplies } from './watched-channel.js';
import type { AmqpTarget } from './url.js';
import { tlsFileOptions } from '../core/tls-files.js';
import type { TransportLog } from '../core/transport-table.js';
import { Backoff, type BackoffPolicy } from '../core/backoff.js';
import { describeGiven } from '../core/option-names.js';
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
  /**
   * Longest wait for a reply from RabbitMQ (a publish's confirm, an operation's answer) before
   * the connection is given up as dead (see {@link AmqpSession.awaitReply}).
   * @default {@link REPLY_TIMEOUT_MS}
   */
  replyTimeoutMs?: number;
}

/** `value` (`fallback` when absent) when a number of ms > 0; else a CONFIG error naming `name` (`'x'` waited NaN ms). */
function positiveMs(name: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) throw new CeleriacError(ErrorCodes.CONFIG, `${name} must be a number of milliseconds > 0, got ${describeGiven(ms)}`);
  return ms;
}

/** The default of `replyTimeoutMs`: as long as a Redis command may take (`commandTimeoutMs`). */
export const REPLY_TIMEOUT_MS = 30_000;

/** A reply being waited for: since when, on which connection, for what. */
interface AwaitedReply {
  readonly at: number;
  readonly generation: number;
  readonly what: string;
}

/** The SASL mechanisms RabbitMQ offers: the URL's user and password, or the client certificate (EXTERNAL). */
export type AmqpLoginMethod = 'PLAIN' | 'AMQPLAIN' | 'EXTERNAL';

/**
 * Waits between rounds of failed connects: 0.1 s doubling to 2 s, jittered. Past `waitMs` of an
 * outage sends fail at once until the connection is back, so the wait between tries is how
 * long they go on failing after RabbitMQ returns (it was up to 5 s; Redis's is 2 s).
 */
const RECONNECT_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 100, growth: { factor: 2 }, maxMs: 2000, jitter: true });

/**
 * amqplib's failed handshake when RabbitMQ refuses the URL's settings, as CONFIG, which no
 * retry mends: the worker retried them for ever and `call` for 30 s, reporting the broker as
 * unreachable. Two refusals: the login (403 ACCESS_REFUSED: a wrong user or password), and
 * the virtual host (a close in answer to connection.open, 530 NOT_ALLOWED: no such vhost, or
 * the user has no permission on it; amqplib drops the close's text, so the message says
 * both). Other errors as they are.
 */
function refusedConfig(error: Error, where: string, vhost: string): Error {
  if (/\b403 \(ACCESS-REFUSED\)/.test(error.message)) {
    return new CeleriacError(ErrorCodes.CONFIG, `RabbitMQ at ${where} refused the login (ACCESS_REFUSED): check the user and password of the broker URL`, { cause: error });
  }
  if (/^Expected ConnectionOpenOk; got <ConnectionClose\b/.test(error.message)) {
    const v = JSON.stringify(vhost);
    return new CeleriacError(
      ErrorCodes.CONFIG,
      `RabbitMQ at ${where} refused to open the virtual host (NOT_ALLOWED): it does not exist, or the user may not use it; create it (rabbitmqctl add_vhost ${v}), grant the user (rabbitmqctl set_permissions -p ${v} <user> '.*' '.*' '.*'), or fix the vhost in the broker URL`,
      { cause: error },
    );
  }
  return error;
}

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
  /** When the connection was lost, or a first connect failed (performance.now()), until one is open. */
  #downSince: number | undefined;
  readonly #targets: readonly AmqpTarget[];
  /** Index of the node the next attempt goes to. */
  #next = 0;
  #target: AmqpTarget;
  /** Replies waited for, oldest first, and the interval that looks at them while any is. */
  readonly #replies = new Set<AwaitedReply>();
  #watchdog: NodeJS.Timeout | undefined;
  /** When the watchdog last saw RabbitMQ block the connection (performance.now() ms). */
  #blockedSeen = 0;
  readonly replyTimeoutMs: number;

  constructor(
    targets: AmqpTarget | readonly AmqpTarget[],
    private readonly options: AmqpSessionOptions,
  ) {
    this.#targets = Array.isArray(targets) ? [...(targets as readonly AmqpTarget[])] : [targets as AmqpTarget];
    if (this.#targets.length === 0) throw new CeleriacError(ErrorCodes.CONFIG, 'an AMQP session needs at least one broker URL');
    this.#target = this.#targets[0] as AmqpTarget;
    this.#waitMs = positiveMs('connectWaitMs', options.waitMs, 30_000);
    this.replyTimeoutMs = positiveMs('replyTimeoutMs', options.replyTimeoutMs, REPLY_TIMEOUT_MS);
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

  /**
   * `reply`, RabbitMQ's answer to something sent on the connection of `generation` (a publish's
   * confirm, a declaration's reply), watched: when it has not come `replyTimeoutMs` after, while
   * RabbitMQ has not blocked the connection (a memory or disk alarm holds replies back), the
   * connection is given up ({@link abandon}), and `reply` fails with it. A link that silently
   * drops what is sent would otherwise hold it until the heartbeat noticed, up to three
   * intervals later (six minutes at the default 120 s). One interval watches every reply.
   */
  awaitReply<T>(reply: Promise<T>, what: string, generation = this.#generation): Promise<T> {
    const awaited: AwaitedReply = { at: performance.now(), generation, what };
    this.#replies.add(awaited);
    this.#watch();
    return reply.then(
      (value) => {
        this.#replies.delete(awaited);
        return value;
      },
      (err: unknown) => {
        this.#replies.delete(awaited);
        throw err;
      },
    );
  }

  /** Looks at the oldest reply waited for on the current connection, a few times per timeout, while any is waited for. */
  #watch(): void {
    if (this.#watchdog !== undefined) return;
    this.#watchdog = setInterval(() => {
      if (this.#replies.size === 0 || this.#closed) {
        clearInterval(this.#watchdog);
        this.#watchdog = undefined;
        return;
      }
      let oldest: AwaitedReply | undefined;
      // Replies of a connection already replaced fail with it; they are not this one's.
      for (const awaited of this.#replies) {
        if (awaited.generation === this.#generation) {
          oldest = awaited;
          break;
        }
      }
      const now = performance.now();
      // Blocked, replies wait with the publishes; once unblocked, they get a whole timeout again.
      if (this.blocked) this.#blockedSeen = now;
      const waitedMs = oldest === undefined ? 0 : now - Math.max(oldest.at, this.#blockedSeen);
      if (oldest === undefined || waitedMs < this.replyTimeoutMs || this.blocked) return;
      this.abandon(oldest.generation, `no reply to ${oldest.what} for ${Math.round(waitedMs)} ms (replyTimeoutMs ${this.replyTimeoutMs}): a dead link`);
    }, Math.max(50, Math.min(1000, this.replyTimeoutMs / 4)));
    this.#watchdog.unref();
  }

  /**
   * A new channel on the connection (opened when needed) for one piece of work (a declaration,
   * a probe, a purge, a subscription), every operation of which is watched against that
   * connection ({@link awaitReply}, amqp/watched-channel.ts): over a link that died silently,
   * none of their replies would come, and the work waited for the heartbeat.
   */
  async openChannel(options: { confirm: true }): Promise<ConfirmChannel>;
  async openChannel(options?: { confirm?: false }): Promise<Channel>;
  async openChannel(options: { confirm?: boolean } = {}): Promise<Channel> {
    const model = await this.connection();
    const generation = this.#generation;
    const opening = options.confirm === true ? model.createConfirmChannel() : model.createChannel();
    const channel: Channel = await this.awaitReply(opening, 'a channel open', generation);
    return watchReplies(channel, (reply, what) => this.awaitReply(reply, what, generation));
  }

  /** Calls `fn` after every reconnection (not after the first connection). */
  onReconnect(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * The open connection, opening it (with backoff) when needed. Waits at most what is left of
   * `waitMs` since the connection went down (or a first connect failed): past that, at once
   * (the opening goes on). Every call waited the whole `waitMs`: a send's four attempts took
   * 120 s to fail on a RabbitMQ gone for good.
   */
  async connection(): Promise<ChannelModel> {
    if (this.#closed) throw new CeleriacError(ErrorCodes.STATE, 'AMQP session is closed');
    if (this.#model !== undefined) return this.#model;
    this.#opening ??= this.#openLoop();
    const left = this.#downSince === undefined ? this.#waitMs : this.#waitMs - (performance.now() - this.#downSince);
    const unreachable = () => new CeleriacError(ErrorCodes.TRANSPORT, `RabbitMQ at ${this.#where()} unreachable for ${this.#waitMs} ms${this.#lastFailure === undefined ? '' : `: ${this.#lastFailure.message}`}`);
    if (left < 1) {
      this.#opening.catch(() => undefined);
      throw unreachable();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unreachable()), Math.ceil(left));
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
        this.#downSince = undefined;
        this.#model = model;
        this.#opening = undefined;
        this.#generation++;
        if (this.#generation > 1) {
          this.options.log('warn', 'reconnected to RabbitMQ', { server: this.#where() });
          for (const fn of this.#listeners) fn();
        }
        return model;
      } catch (err) {
        const e = refusedConfig(coerceError(err), this.#where(), this.target.vhost);
        // A setting no retry can fix (an unreadable TLS file, a refused login): every wait fails with it.
        if (e instanceof CeleriacError && e.code === ErrorCodes.CONFIG) throw e;
        this.#lastFailure = e;
        this.#downSince ??= performance.now();
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
      this.#downSince ??= performance.now();
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
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
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

export type { Channel, ConfirmChannel };
