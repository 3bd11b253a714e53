/**
 * @module redis/presence-keeper
 * Keeps a holder's presence renewed from a worker thread (presence-keeper-thread.ts), off the
 * event loop: a task that computes on the worker's loop stops every timer there, and without
 * this the worker's presence lapsed, so that another worker reported its well-behaved
 * early-acked tasks lost while they ran. The Redis result backend uses it for the running-task
 * records of brokers that keep none (RabbitMQ; backends/redis/running-tasks.ts); the Redis
 * broker's lease keeper renews its own presence (brokers/redis/lease-keeper.ts). A Sentinel
 * target is not kept (the thread's connection is plain): the caller renews on its loop.
 */
import type { Worker as NodeWorker } from 'node:worker_threads';
import { startModuleThread } from '../core/module-thread.js';
import { coerceError } from '../errors.js';
import type { RedisScript } from './script.js';
import type { RedisTarget } from './url.js';
import type { TransportLog } from '../core/transport-table.js';

/** What the thread runs: `script` with `keys` and `args`, every `everyMs`. */
export interface PresenceKeeperConfig {
  readonly target: RedisTarget;
  readonly script: Pick<RedisScript, 'sha1' | 'source'>;
  readonly keys: readonly string[];
  readonly args: readonly string[];
  readonly everyMs: number;
  readonly commandTimeoutMs: number;
}

/** Thread to event loop. */
export type FromPresenceKeeper = { readonly type: 'log'; readonly level: 'warn'; readonly msg: string; readonly error: string | null };

/** A running presence keeper. */
export interface PresenceKeeper {
  stop(): void;
}

/** Starts a keeper thread; null (after logging why) when none can run, so the caller renews on its loop. */
export function startPresenceKeeper(config: PresenceKeeperConfig, log: TransportLog | undefined): PresenceKeeper | null {
  if (config.target.sentinel !== undefined) return null;
  let thread: NodeWorker;
  try {
    // The thread's failure as its text, not an Error made here with a stack of this handler.
    const onMessage = (m: FromPresenceKeeper) => log?.(m.level, m.msg, m.error === null ? undefined : { reason: m.error });
    thread = startModuleThread(new URL('./presence-keeper-thread.js', import.meta.url), { ...config, script: { sha1: config.script.sha1, source: config.script.source } }, 'celeriac-presence-keeper', onMessage);
  } catch (err) {
    log?.('warn', 'no presence keeper thread; presence is renewed on the event loop', { err: coerceError(err) });
    return null;
  }
  thread.on('error', (err) => log?.('warn', 'the presence keeper thread failed; presence is renewed on the event loop only', { err: coerceError(err) }));
  let stopped = false;
  return {
    stop: () => {
      if (stopped) return;
      stopped = true;
      thread.postMessage({ type: 'stop' });
      // It ends by itself once its port closes; this bounds it should Redis hold a reply.
      setTimeout(() => void thread.terminate(), 1000).unref();
    },
  };
}
