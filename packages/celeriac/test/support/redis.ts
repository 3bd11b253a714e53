/**
 * Helpers for tests against a real Redis: the shared server at 127.0.0.1:6379 (never
 * flushed: each test file uses a random key prefix and deletes only its own keys), and
 * private redis-server processes for restart tests.
 *
 * Under CI (`CI=true`) a missing Redis fails the tests; locally they are skipped with a
 * message, so `npm test` still runs on a laptop without Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, Socket } from 'node:net';
import { createClient } from 'redis';

/** The shared test Redis. */
export const REDIS_URL = process.env['CELERIAC_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';

/** True when something answers on the TCP port of `url` within `timeoutMs`. */
export async function redisReachable(url = REDIS_URL, timeoutMs = 500): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname, () => done(true));
  });
}

/**
 * Whether to run Redis tests. Throws under CI when Redis is down (a skipped suite must not
 * look green there); otherwise prints why they are skipped.
 */
export async function shouldRunRedisTests(what: string): Promise<boolean> {
  if (await redisReachable()) return true;
  if (process.env['CI'] === 'true') throw new Error(`${what}: Redis is not reachable at ${REDIS_URL} (required under CI)`);
  console.warn(`[skip] ${what}: Redis is not reachable at ${REDIS_URL}; start redis-server to run these tests`);
  return false;
}

/** A random key prefix for one test file: `celeriac-test-<uuid>:`. */
export function randomKeyPrefix(): string {
  return `celeriac-test-${randomUUID()}:`;
}

/** Deletes every key starting with `prefix` (SCAN MATCH; never FLUSHDB on the shared server). */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  if (prefix === '' || /[*?[\]\\]/.test(prefix)) throw new Error(`refusing to delete keys for prefix "${prefix}"`);
  const client = createClient({ url });
  await client.connect();
  let deleted = 0;
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.del(keys);
    }
  } finally {
    client.destroy();
  }
  return deleted;
}

/** Deletes the result metas of these task ids (shared result keys have no prefix to scan). */
export async function deleteResults(taskIds: readonly string[], url = REDIS_URL): Promise<void> {
  if (taskIds.length === 0) return;
  const client = createClient({ url });
  await client.connect();
  try {
    for (let i = 0; i < taskIds.length; i += 500) await client.del(taskIds.slice(i, i + 500).map((id) => `celery-task-meta-${id}`));
  } finally {
    client.destroy();
  }
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A private redis-server child process (no persistence), for restart and kill tests. */
export class RedisServerProcess {
  #child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  /** redis://127.0.0.1:<port>/0 */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts redis-server and waits until it accepts connections. */
  async start(timeoutMs = 5000): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    this.#child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + timeoutMs;
    while (!(await redisReachable(this.url, 200))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGSTOPs the server: connections stay open (the kernel still ACKs) but nothing answers. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** SIGCONTs a paused server. */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** SIGKILLs the server (no shutdown handshake, like a crash) and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    child.kill('SIGCONT');
    await exited;
  }
}
