/**
 * @module redis/replicas
 * `waitReplicas`: writes answered only once replicas have them. Redis replicates
 * asynchronously, so a write the master answered just before it died is lost when a replica
 * takes its place (Sentinel, a managed Redis's failover). After its writes, the broker's send
 * (brokers/redis/publisher.ts) and the result backend's store (backends/redis/redis-backend.ts)
 * ask Redis to `WAIT` for that many replicas on the connection that made them: WAIT covers
 * every earlier write of its connection.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { toTransportError } from './client.js';

/** The WAIT command of a plain or Sentinel client. */
export interface WaitCommand {
  wait(numberOfReplicas: number, timeout: number): Promise<number>;
}

/** How many replicas to wait for, and how long; resolved options of the broker and the backend. */
export interface ReplicaWait {
  /** 0: writes do not wait. */
  readonly waitReplicas: number;
  readonly waitReplicasTimeoutMs: number;
}

/** The default of `waitReplicasTimeoutMs`. */
export const WAIT_REPLICAS_TIMEOUT_MS = 1000;

/**
 * How much sooner than the connection's `commandTimeoutMs` a WAIT must give up: Redis ends a
 * timed-out WAIT on its next event-loop turn (up to 100 ms later at the default `hz`), and its
 * reply then has to reach a client that may be busy.
 */
export const WAIT_REPLICAS_MARGIN_MS = 1000;

/**
 * Checks `waitReplicas` (a whole number, 0 by default) and `waitReplicasTimeoutMs` (positive
 * whole milliseconds, {@link WAIT_REPLICAS_TIMEOUT_MS} by default). When writes wait, the
 * timeout must end {@link WAIT_REPLICAS_MARGIN_MS} before `commandTimeoutMs` (the connection's
 * longest wait for a reply): a WAIT held longer trips the connection's watchdog, which replaces
 * the connection and fails every command on it (a worker's fetches and acks too), with "no
 * reply" in place of the replicas' count.
 *
 * @throws CeleriacError CONFIG naming the option, prefixed with `owner`.
 */
export function resolveReplicaWait(owner: string, options: { waitReplicas?: unknown; waitReplicasTimeoutMs?: unknown }, commandTimeoutMs: number): ReplicaWait {
  const { waitReplicas = 0, waitReplicasTimeoutMs = WAIT_REPLICAS_TIMEOUT_MS } = options;
  if (typeof waitReplicas !== 'number' || !Number.isInteger(waitReplicas) || waitReplicas < 0) {
    throw new CeleriacError(ErrorCodes.CONFIG, `${owner}: waitReplicas must be a whole number of replicas (0 turns it off), got ${JSON.stringify(waitReplicas)}`);
  }
  if (typeof waitReplicasTimeoutMs !== 'number' || !Number.isInteger(waitReplicasTimeoutMs) || waitReplicasTimeoutMs <= 0) {
    throw new CeleriacError(ErrorCodes.CONFIG, `${owner}: waitReplicasTimeoutMs must be a positive whole number of milliseconds, got ${JSON.stringify(waitReplicasTimeoutMs)}`);
  }
  if (waitReplicas > 0 && waitReplicasTimeoutMs > commandTimeoutMs - WAIT_REPLICAS_MARGIN_MS) {
    throw new CeleriacError(
      ErrorCodes.CONFIG,
      `${owner}: waitReplicasTimeoutMs (${waitReplicasTimeoutMs}) must be at least ${WAIT_REPLICAS_MARGIN_MS} ms below commandTimeoutMs (${commandTimeoutMs}): a WAIT held longer would have its connection replaced as unresponsive, failing every command on it; lower waitReplicasTimeoutMs or raise commandTimeoutMs`,
    );
  }
  return { waitReplicas, waitReplicasTimeoutMs };
}

/**
 * Resolves once `wait.waitReplicas` replicas acknowledged the writes made so far on `c`.
 * Fewer within `waitReplicasTimeoutMs`, or a connection that fails meanwhile, reject with
 * TRANSPORT (the caller's retry sends the write again); an ACL that refuses WAIT, with CONFIG.
 * The errors say that `what` was written: only its replication is in doubt.
 */
export async function confirmReplicated(c: WaitCommand, wait: ReplicaWait, what: string): Promise<void> {
  const { waitReplicas: wanted, waitReplicasTimeoutMs: timeoutMs } = wait;
  const acked = await c.wait(wanted, timeoutMs).catch((err: unknown) => Promise.reject(toTransportError(err, `WAIT for replicas (waitReplicas) after writing ${what}`)));
  if (acked < wanted) {
    throw new CeleriacError(
      ErrorCodes.TRANSPORT,
      `Redis wrote ${what}, but ${acked} of the ${wanted} replicas asked for (waitReplicas) acknowledged it within ${timeoutMs} ms: a failover now could lose it (is a replica down, or lagging?)`,
    );
  }
}

/** Who waits for replicas, in a start-up warning: the broker's sends or the backend's stores. */
export type ReplicaWaiter = 'broker' | 'result backend';

const WAITED: Record<ReplicaWaiter, string> = {
  broker: 'every send waits {ms} ms for them and fails (brokerTransportOptions; docs/brokers-and-backends.md)',
  'result backend': 'every task state waits {ms} ms for them, fails and is stored again (resultBackendTransportOptions; docs/brokers-and-backends.md)',
};

/**
 * The warning `info` (INFO replication's text) calls for when `who`'s writes wait for
 * `wait.waitReplicas` replicas and fewer are connected; null when enough are, when it does not
 * wait, or when the text does not say. A worker logs it as it starts.
 */
export function replicaWarning(info: string, wait: ReplicaWait, who: ReplicaWaiter, where: string): string | null {
  const { waitReplicas: wanted, waitReplicasTimeoutMs: timeoutMs } = wait;
  const connected = /^connected_slaves:(\d+)\s*$/m.exec(info);
  if (wanted === 0 || connected === null || Number(connected[1]) >= wanted) return null;
  const replicas = `${connected[1]} replica${connected[1] === '1' ? '' : 's'}`;
  return `${who} Redis ${where} has ${replicas} connected, and waitReplicas asks for ${wanted}: ${WAITED[who].replace('{ms}', String(timeoutMs))}`;
}
