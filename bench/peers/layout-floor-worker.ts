/**
 * The round trip's floor on Celery's Redis layout (bench/rt-floor.ts): a bare worker, no engine
 * around it, that does per task only what the layout and the engine's way of waiting require,
 * with the engine's own calls (lib/layout-internals.ts) and as few writes as the engine makes:
 * - one write on a connection of its own: `BRPOP` on the queue's doorbell, then the broker's
 *   fetch (fetch.lua: pop, kombu's unacked bookkeeping, lease), which Redis runs the moment the
 *   block ends;
 * - the envelope and body decoded, a SUCCESS meta made;
 * - one write on the command connection the result backend and the broker share in a worker:
 *   the backend's store (store-metas.lua: SET + PUBLISH) and the broker's ack (ack.lua), in
 *   that order, as the engine's turn sends them (redis/shared-commands.ts).
 * No pool, time limits, events, signals, revokes, running records or lease keeper. An
 * envelope that does not decode, a refused ack or a failed store ends the process (exit 1), so
 * a floor that skipped its work cannot pass for a fast one.
 */
import type { CreateWorker } from '../lib/worker-protocol.js';
import { layoutInternals } from '../lib/layout-internals.js';
import { celeriacUrls } from './celeriac-shared.js';

/** The engine's default lease (recoverAfterSec, 60 s). */
const LEASE_MS = 60_000;
/** How long one block waits before the loop looks whether it should stop (s, as BRPOP takes it). */
const BLOCK_SEC = '0.2';
/** The backend's connection options (redis-backend.ts), so that the floor shares its command connection. */
const COMMAND_OPTIONS = { commandTimeoutMs: 30_000, connectTimeoutMs: 10_000, offlineQueueTimeoutMs: 10_000, pingIntervalMs: 10_000 };

type Raw = { sendCommand(args: readonly string[]): Promise<unknown> };

/** Ends the child: the parent's next round trip then fails on its timeout, naming no result. */
function fatal(what: string, err?: unknown): never {
  process.stderr.write(`layout-floor worker: ${what}${err === undefined ? '' : `: ${String((err as Error).stack ?? err)}`}\n`);
  process.exit(1);
}

const create: CreateWorker = async (env) => {
  const { Transitions, BrokerKeys, createRedisClient, closeRedisClient, IDLE_PING_INTERVALS, parseRedisUrl, RedisConnections, RedisBackend, nextTurn } = await layoutInternals();
  const urls = celeriacUrls(env);
  const target = parseRedisUrl(urls.broker);
  const keys = new BrokerKeys(target.transportOptions.globalKeyprefix, target.db);
  const connections = new RedisConnections();
  const backend = new RedisBackend({ url: urls.backend, connections });
  const shared = connections.acquire(target, { name: 'celeriac-floor', ...COMMAND_OPTIONS, idleTimeoutMs: IDLE_PING_INTERVALS * COMMAND_OPTIONS.pingIntervalMs });
  if (!shared.shared) {
    await Promise.all([shared.release(), backend.close()]);
    throw new Error('layout-floor worker: its broker side did not get the result backend’s command connection (their options differ), so a store and an ack would take two writes');
  }
  const transitions = new Transitions((fn) => shared.send(fn), keys, '', shared.turn);
  // As the broker's bell line: no per-command offline timer (a block waits by design).
  const bell = createRedisClient(target, { name: 'celeriac-floor-bell', offlineQueueTimeoutMs: null });
  await Promise.all([bell.connect(), backend.connect()]);
  const buckets = keys.buckets(env.queue);
  const queues = [env.queue];
  const doorbell = keys.bell(env.queue);
  let open = true;
  let loop: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();

  const finish = (raw: string, held: { tag: string; token: string }): void => {
    let id: string;
    try {
      const envelope = JSON.parse(raw) as { body: string; headers: { id: string } };
      JSON.parse(Buffer.from(envelope.body, 'base64').toString('utf8'));
      id = envelope.headers.id;
    } catch (err) {
      fatal('a message did not decode', err);
    }
    const meta = { status: 'SUCCESS' as const, result: null, traceback: null, children: [], date_done: new Date().toISOString().slice(0, -1), task_id: id };
    const done: Promise<void> = Promise.all([backend.store(meta, { expiresSec: 86_400 }), transitions.ack(held)]).then(
      ([, acked]) => {
        if (!acked) fatal(`the ack of ${held.tag} was refused (its lease was lost)`);
        inFlight.delete(done);
      },
      (err: unknown) => fatal('a store or an ack failed', err),
    );
    inFlight.add(done);
  };

  const run = async (): Promise<void> => {
    let fetches = 0;
    while (open) {
      const woken = (bell as unknown as Raw).sendCommand(['BRPOP', doorbell, BLOCK_SEC]);
      const fetched = transitions.fetch(buckets, queues, env.concurrency, Date.now(), LEASE_MS, `floor:${process.pid}:${fetches++}:`, [], (fn) => fn(bell));
      const [, got] = await Promise.all([woken, fetched]);
      for (const m of got) {
        if (m.invalid !== undefined) fatal(`fetched an invalid message: ${m.invalid}`);
        finish(m.raw, { tag: m.tag, token: m.token });
      }
      // As the engine's consumer: the turn's stores and acks go out before the next block.
      if (got.length > 0) {
        await nextTurn();
        await nextTurn();
      }
    }
  };

  return {
    start: async () => {
      loop = run().catch((err: unknown) => fatal('the fetch loop failed', err));
    },
    close: async () => {
      open = false;
      await loop;
      await Promise.all([...inFlight]);
      await backend.close();
      await shared.release();
      await closeRedisClient(bell);
    },
  };
};
export default create;
