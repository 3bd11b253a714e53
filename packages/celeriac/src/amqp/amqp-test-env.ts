/**
 * @module amqp/amqp-test-env
 * Helpers of the RabbitMQ tests (real RabbitMQ at 127.0.0.1:5672 guest/guest, or
 * $CELERIAC_TEST_AMQP_HOST): each test file makes its own virtual host with `rabbitmqctl`
 * and deletes it afterwards, so files never see each other's queues and nothing is left on
 * the shared broker. Under CI (`CI=true`) a missing RabbitMQ fails the tests instead of
 * skipping them. Uses vitest: import it from test files only.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Host:port of the test RabbitMQ. */
export const TEST_AMQP_HOST = process.env['CELERIAC_TEST_AMQP_HOST'] ?? '127.0.0.1:5672';

/** Runs `rabbitmqctl` with `args`; returns stdout. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
  return stdout;
}

/** True when RabbitMQ accepts TCP connections and `rabbitmqctl` works (throws under CI). */
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
    await rabbitmqctl('status');
    return true;
  } catch (error) {
    if (process.env['CI'] === 'true') throw new Error(`RabbitMQ is required under CI but ${TEST_AMQP_HOST} did not answer`, { cause: error });
    return false;
  }
}

/** A fresh vhost, created with permissions for guest. */
export async function createVhost(label = 't'): Promise<string> {
  const vhost = `celeriac-${label}-${randomUUID().slice(0, 8)}`;
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return vhost;
}

/** Deletes a vhost made by {@link createVhost} (and everything in it). */
export async function deleteVhost(vhost: string): Promise<void> {
  if (!vhost.startsWith('celeriac-')) throw new Error(`refusing to delete vhost ${vhost}`);
  await rabbitmqctl('delete_vhost', vhost).catch(() => undefined);
}

/** The broker URL of a vhost. */
export function vhostUrl(vhost: string, query = ''): string {
  return `amqp://guest:guest@${TEST_AMQP_HOST}/${encodeURIComponent(vhost)}${query}`;
}
