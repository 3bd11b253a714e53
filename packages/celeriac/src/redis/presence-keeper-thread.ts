/**
 * @module redis/presence-keeper-thread
 * The presence keeper's thread (presence-keeper.ts): renews one holder's presence every
 * `everyMs` on a Redis connection of its own, on its own timer, so a task that blocks the
 * worker's event loop does not make the worker look dead to the others. It speaks RESP itself
 * (resp-connection.ts), as the lease keeper thread does, to start fast.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ModuleThreadData } from '../core/module-thread.js';
import type { PresenceKeeperConfig, FromPresenceKeeper } from './presence-keeper.js';
import { RespConnection, RespError } from './resp-connection.js';

const { data: config } = workerData as ModuleThreadData<PresenceKeeperConfig>;
const port = parentPort!;
const redis = new RespConnection(config.target, config.commandTimeoutMs);
let failing = false;
let renewing = false;

async function renew(): Promise<void> {
  if (renewing) return;
  renewing = true;
  try {
    const rest = [String(config.keys.length), ...config.keys, ...config.args];
    let reply = await redis.command(['EVALSHA', config.script.sha1, ...rest]);
    if (reply instanceof RespError && reply.message.startsWith('NOSCRIPT')) reply = await redis.command(['EVAL', config.script.source, ...rest]);
    if (reply instanceof RespError) throw reply;
    if (failing) port.postMessage({ type: 'log', level: 'warn', msg: 'presence keeper: renews again', error: null } satisfies FromPresenceKeeper);
    failing = false;
  } catch (err) {
    // Once per outage; the next renewal retries on a fresh connection.
    if (!failing) port.postMessage({ type: 'log', level: 'warn', msg: 'presence keeper: could not renew the presence; retrying', error: (err as Error).message } satisfies FromPresenceKeeper);
    failing = true;
  } finally {
    renewing = false;
  }
}

const timer = setInterval(() => void renew(), config.everyMs);
port.on('message', (m: { type: 'stop' }) => {
  if (m.type === 'stop') {
    clearInterval(timer);
    redis.close();
    port.close();
  }
});
void renew();
