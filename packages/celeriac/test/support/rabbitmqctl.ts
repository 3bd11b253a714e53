/**
 * @module test/support/rabbitmqctl
 * `rabbitmqctl` for the RabbitMQ tests, without vitest so that the suite's global setup
 * (scripts/test-vhosts.ts) can use it as well as the test files (through amqp-env.ts).
 *
 * Every `rabbitmqctl` call starts an Erlang VM: about a CPU-second and 2-4 s of wall time on
 * the 2-core test machine. So vhosts are added and deleted many in one `rabbitmqctl eval`.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs `rabbitmqctl` with `args`; returns stdout. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
  return stdout;
}

/** Every vhost a test makes starts with this; {@link deleteVhosts} deletes no other. */
export const TEST_VHOST_PREFIX = 'celeriac-';

/** A fresh vhost name, `celeriac-<label>-<random>`. */
export function newVhostName(label: string): string {
  if (!/^[a-z0-9-]+$/.test(label)) throw new Error(`vhost label ${JSON.stringify(label)}: use a-z, 0-9 and -`);
  return `${TEST_VHOST_PREFIX}${label}-${randomUUID().slice(0, 8)}`;
}

/** `names` as an Erlang list of binaries, after checking each is a test vhost name. */
function erlangList(names: readonly string[]): string {
  for (const name of names) {
    if (!name.startsWith(TEST_VHOST_PREFIX) || !/^[a-z0-9-]+$/.test(name)) throw new Error(`not a test vhost: ${JSON.stringify(name)}`);
  }
  return `[${names.map((n) => `<<"${n}">>`).join(', ')}]`;
}

/** The acting user RabbitMQ records, as `rabbitmqctl add_vhost` does. */
const ACTING_USER = '<<"rmq-cli">>';

/**
 * Adds each vhost of `names` and gives guest every permission on it: `add_vhost` and
 * `set_permissions` for all of them in one `rabbitmqctl eval`, one Erlang VM. A failure (an
 * `{error, _}` instead of `ok`) makes rabbitmqctl exit non-zero, so this rejects.
 */
export async function addVhosts(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await rabbitmqctl(
    'eval',
    `U = ${ACTING_USER}, [begin ok = rabbit_vhost:add(V, U), ok = rabbit_auth_backend_internal:set_permissions(<<"guest">>, V, <<".*">>, <<".*">>, <<".*">>, U) end || V <- ${erlangList(names)}], ok.`,
  );
}

/** Deletes each vhost of `names` (and everything in it) in one `rabbitmqctl eval`; one already gone is no error. */
export async function deleteVhosts(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await rabbitmqctl('eval', `[rabbit_vhost:delete(V, ${ACTING_USER}) || V <- ${erlangList(names)}], ok.`);
}
