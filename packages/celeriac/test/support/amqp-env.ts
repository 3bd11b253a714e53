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
 * which makes and deletes them in batches, and reuses the vhosts of quorum files (each
 * declares kombu's 28-queue delay ladder; quorum-queue churn wedges RabbitMQ); elsewhere a
 * file makes its own in one call. And
 * {@link amqpAvailable} no longer runs `rabbitmqctl status`: making the vhost proves that
 * rabbitmqctl reaches the broker, and fails the file when it does not.
 */
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { accessSync, constants } from 'node:fs';
import { connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { addVhosts, deleteVhosts, newVhostName, TEST_AMQP_HOST, TEST_VHOST_PREFIX, VHOST_ADD_TIMEOUT_MS, vhostUrl } from './rabbitmqctl.js';

export { closeConnections, deleteQueue, listQueues, rabbitmqctl, TEST_AMQP_HOST, vhostUrl } from './rabbitmqctl.js';

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

/** How long a file waits for the pool: its own rabbitmqctl timeout, and a quorum vhost's reset. */
const POOL_WAIT_MS = VHOST_ADD_TIMEOUT_MS + 15_000;

/** Sends one request line to the run's pool (scripts/test-vhosts.ts) at the socket `path`; resolves with what follows `ok`. */
function askPool(path: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let reply = '';
    socket.setEncoding('utf8');
    socket.setTimeout(POOL_WAIT_MS, () => {
      socket.destroy();
      reject(new Error(`the test vhost pool did not answer "${request}" in ${POOL_WAIT_MS / 1000} s: RabbitMQ may be wedged (rabbitmqctl add_vhost hanging); see test/support/rabbitmqctl.ts`));
    });
    socket.on('data', (chunk: string) => (reply += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const line = reply.trim();
      if (line === 'ok' || line.startsWith('ok ')) resolve(line.slice(3));
      else reject(new Error(`the test vhost pool answered ${JSON.stringify(line)}`));
    });
    // Not end(): the pool answers, then ends the connection.
    socket.write(`${request}\n`);
  });
}

/** The vhosts this process made itself (not from the pool): {@link deleteVhost} deletes only those. */
const own = new Set<string>();
/** Quorum vhosts this process has from the pool: {@link deleteVhost} gives them back. */
const lentQuorum = new Set<string>();

/** What {@link createVhost} is asked for. */
export interface VhostOptions {
  /**
   * For a file on quorum queues: under the run's pool, a vhost another quorum file had, reset
   * but for kombu's delay ladder (28 quorum queues, kept rather than made again: quorum-queue
   * churn wedges RabbitMQ), or a fresh one. It holds no queue or exchange of anyone else, and
   * the ladder's queues are empty, but the ladder may already be declared: a test of declaring
   * it needs a plain vhost.
   * @default false
   */
  readonly quorum?: boolean;
}

/**
 * A vhost of this file's own, with permissions for guest. From the run's pool when there is
 * one (its name then says `pool`, not `label`); else made here, in one `rabbitmqctl eval`.
 */
export async function createVhost(label = 't', { quorum = false }: VhostOptions = {}): Promise<string> {
  const pool = inject('celeriacVhostPool');
  if (pool !== undefined) {
    const vhost = await askPool(pool, quorum ? 'claim quorum' : 'claim');
    if (quorum) lentQuorum.add(vhost);
    return vhost;
  }
  const vhost = newVhostName(label);
  await addVhosts([vhost]);
  own.add(vhost);
  return vhost;
}

/**
 * Done with a vhost of {@link createVhost} (close its connections first): deletes one made
 * here, gives a quorum one back to the pool; the pool deletes the others at the end of the run.
 */
export async function deleteVhost(vhost: string): Promise<void> {
  if (!vhost.startsWith(TEST_VHOST_PREFIX)) throw new Error(`refusing to delete vhost ${vhost}`);
  const pool = inject('celeriacVhostPool');
  if (pool !== undefined && lentQuorum.delete(vhost)) return void (await askPool(pool, `release ${vhost}`));
  if (!own.delete(vhost)) return;
  await deleteVhosts([vhost]).catch(() => undefined);
}

/** Runs `fn` on a channel of its own on `conn` (a 404 or 406 closes only that channel), then closes it. */
export async function onChannel<T>(conn: ChannelModel, fn: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    return await fn(ch);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

/** A suite's own vhost (see {@link vhostPerSuite}); its fields are set once the suite's beforeAll ran. */
export interface SuiteVhost {
  /** The vhost's name. */
  name: string;
  /** An amqplib connection to it, for what a test checks or sets up by hand. */
  conn: ChannelModel;
  /** Brokers (or anything closable) the tests opened there: closed before the vhost goes. */
  readonly brokers: { close(): Promise<void> }[];
  /** {@link onChannel} on this suite's connection. */
  onChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T>;
}

/**
 * Gives the calling describe block a vhost of its own ({@link createVhost}) and a connection
 * to it before its tests, and after them closes what they registered in `brokers`, the
 * connection, and deletes the vhost.
 */
export function vhostPerSuite(label: string, options: VhostOptions = {}): SuiteVhost {
  const suite: SuiteVhost = {
    name: '',
    conn: undefined as unknown as ChannelModel,
    brokers: [],
    onChannel: (fn) => onChannel(suite.conn, fn),
  };
  beforeAll(async () => {
    suite.name = await createVhost(label, options);
    suite.conn = await amqp.connect(vhostUrl(suite.name));
    suite.conn.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    for (const b of suite.brokers) await b.close();
    await (suite.conn as ChannelModel | undefined)?.close().catch(() => undefined);
    if (suite.name !== '') await deleteVhost(suite.name);
  }, 60_000);
  return suite;
}
