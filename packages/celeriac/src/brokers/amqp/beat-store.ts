/**
 * @module brokers/amqp/beat-store
 * Beat's store on RabbitMQ alone (issue 27 §7), so a RabbitMQ-only deployment runs beat with
 * the same one-leader, never-double-fire guarantee as Redis.
 *
 * The whole store (lease, run states, dynamic entries) is ONE persistent JSON message, the
 * "document", in the durable queue {@link BEAT_STORE_QUEUE}. The message is its own mutex:
 * - every operation takes it with `basic.get` (unacked, so no one else can get it), reads it,
 *   and in one AMQP transaction (`tx.select` channel) publishes the next document, acks the
 *   old one and commits; a read-only operation requeues it (also committed). A process that
 *   dies while holding it loses its connection, and RabbitMQ puts the document back;
 * - a fenced publish (beat sending a due task) runs inside the same transaction: the task
 *   message and the document with the entry's new run state are committed together, and only
 *   when the document still names the publisher's token as the live lease. A paused old leader
 *   that wakes after a takeover finds another token and gets FENCED: no double fire.
 *
 * The lease expiry is judged by the clock of the process reading the document (Redis uses its
 * own server clock). Clock skew between beat hosts can only make a takeover early or late;
 * it cannot make two publishes for one slot, as each publish needs the document's current
 * token and advances the run state in the same commit.
 *
 * The queue is created once per vhost under an exclusive queue {@link BEAT_INIT_QUEUE} (a
 * connection-scoped mutex), so that two first beats cannot both write a first document; once
 * the store queue exists, a missing document only means another process holds it for a moment.
 */
import type { Channel, Message as AmqpMessage, Options } from 'amqplib';
import { ChannelSlot } from '../../amqp/channel-slot.js';
import type { AmqpSession } from '../../amqp/session.js';
import type { BeatStore, EntryRunState, LeaseAttempt, PublishFence, StoredEntries } from '../../core/spi/beat-store.js';
import { txCommit, txSelect } from '../../amqp/tx.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import { CeleriacError, ErrorCodes, coerceError } from '../../errors.js';

/** The durable queue holding the store document. */
export const BEAT_STORE_QUEUE = 'celeriac.beat.store';
/** The exclusive queue that serializes the store's creation. */
export const BEAT_INIT_QUEUE = 'celeriac.beat.init';
/** How long an operation waits for the document another process holds, ms. */
const HOLD_WAIT_MS = 10_000;
/** Polls of a taken document: from a few ms doubling to 0.2 s, jittered so waiting processes do not poll in step. */
const TAKE_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 4, growth: { factor: 2 }, maxMs: 200, jitter: true });


interface Lease {
  token: string;
  holder: string;
  /** Epoch ms, by the clock of the process that granted or renewed it. */
  expiresAt: number;
}

/** The store document (JSON in the queue). */
interface StoreDoc {
  /** Last token number handed out (tokens only grow). */
  seq: number;
  lease: Lease | null;
  version: number;
  definitions: Record<string, string>;
  paused: string[];
  states: Record<string, EntryRunState>;
}

function emptyDoc(): StoreDoc {
  return { seq: 0, lease: null, version: 0, definitions: {}, paused: [], states: {} };
}

/** A message to commit with the next document (a fenced publish). */
interface TxPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish;
}

/** What one operation on the document decides. */
interface Step<T> {
  /** The next document; absent: leave it unchanged. */
  readonly write?: StoreDoc;
  /** Published in the same transaction as `write`. */
  readonly publish?: TxPublish;
  readonly value: T;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A {@link BeatStore} on RabbitMQ. Made by `AmqpBroker.beatStore()`; closed with the broker. */
export class AmqpBeatStore implements BeatStore {
  readonly kind = 'amqp';
  readonly #slot: ChannelSlot;
  readonly #transactional = new WeakSet<Channel>();
  #ready: { generation: number; done: Promise<void> } | undefined;
  /** One operation at a time on the store channel. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly session: AmqpSession,
    private readonly now: () => number = Date.now,
  ) {
    this.#slot = new ChannelSlot(session, false);
  }

  async acquire(holder: string, ttlMs: number): Promise<LeaseAttempt> {
    return this.#run<LeaseAttempt>((doc) => {
      const now = this.now();
      if (doc.lease !== null && doc.lease.expiresAt > now) return { value: { token: null, retryInMs: Math.max(1, doc.lease.expiresAt - now) } };
      const seq = doc.seq + 1;
      const token = `${String(seq).padStart(12, '0')}:${holder}`;
      return { write: { ...doc, seq, lease: { token, holder, expiresAt: now + ttlMs } }, value: { token, retryInMs: 0 } };
    });
  }

  async renew(token: string, ttlMs: number): Promise<boolean> {
    return this.#run((doc) => {
      const lease = this.#live(doc, token);
      if (lease === null) return { value: false };
      return { write: { ...doc, lease: { ...lease, expiresAt: this.now() + ttlMs } }, value: true };
    });
  }

  async release(token: string): Promise<void> {
    await this.#run((doc) => (doc.lease?.token === token ? { write: { ...doc, lease: null }, value: undefined } : { value: undefined }));
  }

  fence(token: string, entry: string, state: EntryRunState): PublishFence {
    return { key: BEAT_STORE_QUEUE, token, record: { key: 'states', field: entry, value: JSON.stringify(state) } };
  }

  async record(token: string, entry: string, state: EntryRunState): Promise<boolean> {
    return this.#run((doc) => {
      if (this.#live(doc, token) === null) return { value: false };
      return { write: { ...doc, states: { ...doc.states, [entry]: { lastRunAt: state.lastRunAt, totalRunCount: state.totalRunCount } } }, value: true };
    });
  }

  /**
   * Publishes `message` and records the fence's run state in one transaction, if the fence's
   * token still holds the lease; else nothing happens and a FENCED error is thrown.
   */
  async publishFenced(fence: PublishFence, message: TxPublish): Promise<void> {
    if (fence.key !== BEAT_STORE_QUEUE) throw new CeleriacError(ErrorCodes.CONFIG, `fence ${fence.key} was not made by this broker's beat store`);
    const sent = await this.#run((doc) => {
      if (this.#live(doc, fence.token) === null) return { value: false };
      let states = doc.states;
      if (fence.record !== undefined) states = { ...states, [fence.record.field]: JSON.parse(fence.record.value) as EntryRunState };
      return { write: { ...doc, states }, publish: message, value: true };
    });
    if (!sent) throw new CeleriacError(ErrorCodes.FENCED, 'publish refused: the beat lease is no longer held by this sender');
  }

  async states(): Promise<Map<string, EntryRunState>> {
    return this.#run((doc) => ({ value: new Map(Object.entries(doc.states)) }));
  }

  async version(): Promise<number> {
    return this.#run((doc) => ({ value: doc.version }));
  }

  async entries(): Promise<StoredEntries> {
    return this.#run((doc) => ({ value: { version: doc.version, definitions: new Map(Object.entries(doc.definitions)), paused: new Set(doc.paused) } }));
  }

  async put(name: string, definition: string): Promise<number> {
    return this.#run((doc) => {
      const version = doc.version + 1;
      return { write: { ...doc, version, definitions: { ...doc.definitions, [name]: definition } }, value: version };
    });
  }

  async setPaused(name: string, paused: boolean): Promise<number> {
    return this.#run((doc) => {
      const version = doc.version + 1;
      const rest = doc.paused.filter((n) => n !== name);
      return { write: { ...doc, version, paused: paused ? [...rest, name] : rest }, value: version };
    });
  }

  async remove(name: string): Promise<boolean> {
    return this.#run((doc) => {
      if (!Object.hasOwn(doc.definitions, name)) return { value: false };
      const definitions = { ...doc.definitions };
      const states = { ...doc.states };
      delete definitions[name];
      delete states[name];
      return { write: { ...doc, version: doc.version + 1, definitions, states, paused: doc.paused.filter((n) => n !== name) }, value: true };
    });
  }

  /** Closes the store's channel (the broker closes the connection). */
  async close(): Promise<void> {
    await this.#slot.close();
  }

  /** The lease when `token` holds it and it has not expired, else null. */
  #live(doc: StoreDoc, token: string): Lease | null {
    const lease = doc.lease;
    return lease !== null && lease.token === token && lease.expiresAt > this.now() ? lease : null;
  }

  /** Runs `step` on the document, one operation at a time. */
  #run<T>(step: (doc: StoreDoc) => Step<T>): Promise<T> {
    const next = this.#queue.then(
      () => this.#transact(step),
      () => this.#transact(step),
    );
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #transact<T>(step: (doc: StoreDoc) => Step<T>): Promise<T> {
    try {
      await this.#ensureQueue();
      const ch = await this.#channel();
      const held = await this.#take(ch);
      let decided: Step<T>;
      try {
        decided = step(parseDoc(held.content));
      } catch (err) {
        ch.nack(held, false, true);
        await txCommit(ch);
        throw err;
      }
      if (decided.write === undefined) {
        ch.nack(held, false, true);
      } else {
        const p = decided.publish;
        if (p !== undefined) ch.publish(p.exchange, p.routingKey, p.content, p.options);
        ch.publish('', BEAT_STORE_QUEUE, Buffer.from(JSON.stringify(decided.write)), DOC_PROPERTIES);
        ch.ack(held);
      }
      await txCommit(ch);
      return decided.value;
    } catch (err) {
      if (err instanceof CeleriacError) throw err;
      throw new CeleriacError(ErrorCodes.TRANSPORT, `RabbitMQ beat store: ${coerceError(err).message}`, { cause: coerceError(err) });
    }
  }

  /** The store channel, in transaction mode. */
  async #channel(): Promise<Channel> {
    const ch = await this.#slot.get();
    if (!this.#transactional.has(ch)) {
      await txSelect(ch);
      this.#transactional.add(ch);
    }
    return ch;
  }

  /** Gets the document, waiting while another process holds it. */
  async #take(ch: Channel): Promise<AmqpMessage> {
    const deadline = Date.now() + HOLD_WAIT_MS;
    const backoff = new Backoff(TAKE_BACKOFF);
    for (;;) {
      const msg = await ch.get(BEAT_STORE_QUEUE, { noAck: false });
      if (msg !== false) return msg;
      if (Date.now() >= deadline) {
        throw new CeleriacError(
          ErrorCodes.TRANSPORT,
          `RabbitMQ beat store: the document in queue ${BEAT_STORE_QUEUE} stayed taken for ${HOLD_WAIT_MS} ms (held by a stalled process, or the queue was purged: then delete the queue to start afresh)`,
        );
      }
      await sleep(backoff.next());
    }
  }

  /** Makes sure the store queue exists with its document (once per connection). */
  #ensureQueue(): Promise<void> {
    const generation = this.session.generation;
    if (this.#ready?.generation === generation && this.session.connected) return this.#ready.done;
    const done = this.#create().catch((err: unknown) => {
      if (this.#ready?.done === done) this.#ready = undefined;
      throw err;
    });
    this.#ready = { generation, done };
    return done;
  }

  async #create(): Promise<void> {
    const session = this.session;
    if (await exists(session.openChannel(), BEAT_STORE_QUEUE)) return;
    const ch = await session.openChannel();
    ch.on('error', () => undefined);
    try {
      // Only one connection can hold the exclusive init queue: the first beat to get it writes
      // the first document; the others wait for it, then find the store queue.
      for (;;) {
        const lock = await session.openChannel();
        lock.on('error', () => undefined);
        const got = await lock.assertQueue(BEAT_INIT_QUEUE, { exclusive: true, durable: false, autoDelete: true }).then(
          () => true,
          (err: unknown) => {
            if ((err as { code?: unknown }).code === 405) return false;
            throw err;
          },
        );
        if (!got) {
          if (await exists(session.openChannel(), BEAT_STORE_QUEUE)) return;
          await sleep(20 + Math.random() * 30);
          continue;
        }
        try {
          if (!(await exists(session.openChannel(), BEAT_STORE_QUEUE))) {
            await ch.assertQueue(BEAT_STORE_QUEUE, { durable: true, autoDelete: false, exclusive: false });
            await txSelect(ch);
            ch.publish('', BEAT_STORE_QUEUE, Buffer.from(JSON.stringify(emptyDoc())), DOC_PROPERTIES);
            await txCommit(ch);
          }
        } finally {
          await lock.deleteQueue(BEAT_INIT_QUEUE).catch(() => undefined);
          await lock.close().catch(() => undefined);
        }
        return;
      }
    } finally {
      await ch.close().catch(() => undefined);
    }
  }
}

const DOC_PROPERTIES: Options.Publish = { persistent: true, contentType: 'application/json', contentEncoding: 'utf-8' };

/** True when `queue` exists (checked on a channel of its own, as a 404 closes it). */
async function exists(opening: Promise<Channel>, queue: string): Promise<boolean> {
  const ch = await opening;
  ch.on('error', () => undefined);
  try {
    await ch.checkQueue(queue);
    await ch.close().catch(() => undefined);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return false;
    throw err;
  }
}

function parseDoc(content: Buffer): StoreDoc {
  const doc = JSON.parse(content.toString('utf8')) as Partial<StoreDoc>;
  return { ...emptyDoc(), ...doc };
}
