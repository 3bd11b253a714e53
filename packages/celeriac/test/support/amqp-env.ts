/**
 * @module test/support/amqp-env
 * Helpers of the RabbitMQ tests (real RabbitMQ at 127.0.0.1:5672 guest/guest, or
 * $CELERIAC_TEST_AMQP_HOST): each test file has a virtual host of its own, deleted afterwards,
 * so files never see each other's queues and nothing is left on the shared broker. Under CI
 * (`CI=true`) a missing RabbitMQ fails the tests instead of skipping them. Uses vitest: import
 * it from test files only.
 *
 * Every `rabbitmqctl` call starts an Erlang VM (rabbitmqctl.ts), so in vitest's
 * `integration` project a file takes its vhost from the run's pool (scripts/test-vhosts.ts),
 * which makes and deletes them in batches; elsewhere it makes its own in one call. And
 * {@link amqpAvailable} no longer runs `rabbitmqctl status`: making the vhost proves that
 * rabbitmqctl reaches the broker, and fails the file when it does not.
 */
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { inject } from 'vitest';
import { addVhosts, deleteVhosts, newVhostName, TEST_VHOST_PREFIX } from './rabbitmqctl.js';

export { rabbitmqctl } from './rabbitmqctl.js';

/** Host:port of the test RabbitMQ. */
export const TEST_AMQP_HOST = process.env['CELERIAC_TEST_AMQP_HOST'] ?? '127.0.0.1:5672';

/** True when an executable `rabbitmqctl` is on the PATH. */
function rabbitmqctlOnPath(): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, 'rabbitmqctl'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * True when RabbitMQ accepts TCP connections and `rabbitmqctl` is installed (throws under CI).
 * Whether rabbitmqctl reaches the broker shows in {@link createVhost}, which fails when not.
 */
export async function amqpAvailable(): Promise<boolean> {
  const [host, port] = TEST_AMQP_HOST.split(':') as [string, string];
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port: Number(port) }, () => {
        socket.end();
        resolve();
      });
      socket.on('error', reject);
      socket.setTimeout(1000, () => reject(new Error('timeout')));
    });
    if (!rabbitmqctlOnPath()) throw new Error('rabbitmqctl is not on the PATH');
    return true;
  } catch (error) {
    if (process.env['CI'] === 'true') throw new Error(`RabbitMQ is required under CI but ${TEST_AMQP_HOST} did not answer`, { cause: error });
    return false;
  }
}

/** A vhost of the run's pool (scripts/test-vhosts.ts), reached at the socket `path`. */
function claimFromPool(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const line = reply.trim();
      if (line.startsWith('ok ')) resolve(line.slice(3));
      else reject(new Error(`the test vhost pool answered ${JSON.stringify(line)}`));
    });
    // Not end(): the pool answers, then ends the connection.
    socket.write('claim\n');
  });
}

/** The vhosts this process made itself (not from the pool): {@link deleteVhost} deletes only those. */
const own = new Set<string>();

/**
 * A fresh vhost, with permissions for guest. From the run's pool when there is one (its name
 * then says `pool`, not `label`); else made here, in one `rabbitmqctl eval`.
 */
export async function createVhost(label = 't'): Promise<string> {
  const pool = inject('celeriacVhostPool');
  if (pool !== undefined) return claimFromPool(pool);
  const vhost = newVhostName(label);
  await addVhosts([vhost]);
  own.add(vhost);
  return vhost;
}

/** Deletes a vhost made by {@link createVhost} (and everything in it); the pool deletes its own at the end of the run. */
export async function deleteVhost(vhost: string): Promise<void> {
  if (!vhost.startsWith(TEST_VHOST_PREFIX)) throw new Error(`refusing to delete vhost ${vhost}`);
  if (!own.delete(vhost)) return;
  await deleteVhosts([vhost]).catch(() => undefined);
}

/** The broker URL of a vhost. */
export function vhostUrl(vhost: string, query = ''): string {
  return `amqp://guest:guest@${TEST_AMQP_HOST}/${encodeURIComponent(vhost)}${query}`;
}
