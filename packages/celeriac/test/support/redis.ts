/**
 * Helpers for tests against a real Redis: the shared server at 127.0.0.1:6379 (never
 * flushed: each test file uses a random key prefix and deletes only its own keys), and
 * private redis-server processes for restart tests.
 *
 * Under CI (`CI=true`) a missing Redis fails the tests; locally they are skipped with a
 * message, so `npm test` still runs on a laptop without Redis.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import { waitFor } from 'celeriac/testing';

/** The shared test Redis. */
export const REDIS_URL = process.env['CELERIAC_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379/0';

/**
 * True when something answers on the TCP port of `url` within `timeoutMs`. A server that is up
 * accepts at once and one that is down refuses at once: the wait only matters on a host so
 * loaded that this process's timers run late. With 500 ms, a test file whose import held its
 * worker that long (CI on a slow host) saw its timeout fire before the accept, and failed
 * under CI with Redis up.
 */
export async function redisReachable(url = REDIS_URL, timeoutMs = 5000): Promise<boolean> {
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

/**
 * Waits until some Celeriac worker advertises itself as an ETA promoter under `prefix` (it
 * does so a moment after start()): only then do countdowns wait in `celeriac.delayed`.
 */
export async function waitForPromoter(url: string, prefix = ''): Promise<void> {
  const client = createClient({ url });
  await client.connect();
  try {
    await waitFor(async () => (await client.zCard(`${prefix}celeriac.promoters`)) > 0, 'a Celeriac worker to advertise itself as ETA promoter', 10_000);
  } finally {
    await client.close();
  }
}

/**
 * A connected client of `url` that ignores its connection errors (a test that kills or restarts
 * its own redis-server reconnects it, or destroys it, itself).
 */
export async function quietClient(url: string): Promise<ReturnType<typeof createClient>> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * A private redis-server for the tests of the describe block that calls this: started before
 * them (with `extraArgs`), killed after, with a {@link quietClient} on it. Both are read inside
 * the tests (a test may kill and start the server again: the client reconnects).
 */
export function usePrivateRedis(extraArgs: readonly string[] = []): { server(): RedisServerProcess; admin(): ReturnType<typeof createClient> } {
  let server: RedisServerProcess | undefined;
  let admin: ReturnType<typeof createClient> | undefined;
  beforeAll(async () => {
    server = new RedisServerProcess(await freePort(), extraArgs);
    await server.start();
    admin = await quietClient(server.url);
  });
  afterAll(async () => {
    admin?.destroy();
    await server?.kill();
  });
  const opened = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('usePrivateRedis: the server and its client exist only inside the tests');
    return value;
  };
  return { server: () => opened(server), admin: () => opened(admin) };
}

/**
 * A loopback port that was free a moment ago, picked below the kernel's ephemeral range.
 *
 * Binding port 0 gives a port inside that range, the pool every other test's `listen(0)`
 * server (the dashboard's, the API's) draws from while tests run in parallel. A port handed out
 * that way and left unused for a while (a test that starts its redis-server late, or never) can
 * be taken by such a server meanwhile: a CI run's client reconnecting to its "free" port read
 * "Socket closed unexpectedly" instead of ECONNREFUSED. Below the range only these tests bind.
 */
export async function freePort(): Promise<number> {
  const ephemeralLow = await ephemeralRangeStart();
  const low = Math.max(1024, ephemeralLow - 12_000);
  for (let tries = 0; tries < 50 && low < ephemeralLow; tries++) {
    const port = low + Math.floor(Math.random() * (ephemeralLow - low));
    if ((await bindAndClose(port)) === port) return port;
  }
  const any = await bindAndClose(0);
  if (any === undefined) throw new Error('freePort: could not bind any loopback port');
  return any;
}

async function ephemeralRangeStart(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(range.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > 0 ? low : 32_768;
}

/** Binds `port` (0: any) on the loopback and closes it: the port bound, or undefined when it was taken. */
function bindAndClose(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : undefined));
    });
  });
}

/**
 * Whether `redis-server` is on the PATH, for tests that start their own ({@link RedisServerProcess}).
 * Under CI a missing one throws, naming `what`, so the suite fails instead of skipping.
 */
export function redisServerOnPath(what: string): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env['CI'] === 'true') throw new Error(`${what}: redis-server is not on PATH (required under CI)`);
    console.warn(`[skip] ${what}: redis-server is not on PATH`);
    return false;
  }
}

/**
 * A private redis-server child process (no persistence), for restart, kill, replication and
 * TLS tests. `extraArgs` are appended to the command line (e.g. `--replicaof 127.0.0.1 6380`,
 * or `--port 0 --tls-port <p> ...` together with a `probeUrl` that reaches the server).
 */
export class RedisServerProcess {
  #child: ChildProcess | undefined;
  #output = '';

  constructor(
    readonly port: number,
    readonly extraArgs: readonly string[] = [],
  ) {}

  /** What the server printed (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** redis://127.0.0.1:<port>/0 */
  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts redis-server and waits until it accepts connections. */
  async start(timeoutMs = 5000): Promise<void> {
    // --dir: a replica writes the RDB of its full sync to disk even with saving off; it goes
    // to the temp directory, not into the checkout the tests run from.
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', tmpdir(), '--dbfilename', `celeriac-test-${this.port}.rdb`, ...this.extraArgs];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (d: Buffer) => (this.#output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.#output += d.toString()));
    // Started when this child has bound its port ("Running mode=..." comes after the bind; a
    // failed bind prints "Failed listening" and exits) and the port answers, not when the port
    // answers alone: a server left on the port (a run killed mid-file orphans its
    // redis-server) answered for a child that could not bind, the test went on against it,
    // and a kill() of the child stopped nothing. Not "Ready to accept connections": a server
    // still loading its dataset (failure/startup-races) accepts connections before that line.
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) on port ${this.port}:\n${this.#output}`);
      return /Running mode=/.test(this.#output) && redisReachable(this.url, 200);
    }, () => `redis-server to start on port ${this.port}:\n${this.#output}`, timeoutMs);
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
    await this.#end('SIGKILL');
  }

  /** SIGTERMs the server (a shutdown, as a restart for an upgrade) and waits for the exit. */
  async stop(): Promise<void> {
    await this.#end('SIGTERM');
  }

  async #end(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    child.kill('SIGCONT');
    await exited;
  }
}

/**
 * A private Redis Sentinel (`redis-server <conf> --sentinel`) watching one master, with a
 * fast failure detection (1 s) for failover tests. Its config file lives in a temp dir,
 * because Sentinel rewrites it.
 */
export class SentinelProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'celeriac-sentinel-'));
  #child: ChildProcess | undefined;
  #output = '';

  constructor(
    readonly port: number,
    readonly masterName: string,
    readonly masterPort: number,
    /** How many sentinels must agree the master is down before a failover. @default 1 */
    readonly quorum = 1,
    /** How long a server may not answer before a sentinel takes it for down (`down-after-milliseconds`). */
    readonly downAfterMs = 1000,
    /** The sentinel's own `requirepass` (and what it tells other sentinels), if any. */
    readonly password?: string,
    /** More lines of sentinel.conf, after the others (a later `port` wins: `port 0` and `tls-port` for TLS only). */
    readonly extraConfig: readonly string[] = [],
  ) {}

  /** What the sentinel printed (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** Starts the sentinel and waits until it accepts connections. */
  async start(timeoutMs = 5000): Promise<void> {
    const conf = join(this.dir, 'sentinel.conf');
    const m = this.masterName;
    writeFileSync(conf, [
      `port ${this.port}`, 'bind 127.0.0.1', 'daemonize no', `dir ${this.dir}`,
      `sentinel monitor ${m} 127.0.0.1 ${this.masterPort} ${this.quorum}`,
      `sentinel down-after-milliseconds ${m} ${this.downAfterMs}`,
      `sentinel failover-timeout ${m} 5000`,
      `sentinel parallel-syncs ${m} 1`,
      ...(this.password === undefined ? [] : [`requirepass ${this.password}`, `sentinel sentinel-pass ${this.password}`]),
      ...this.extraConfig,
      '',
    ].join('\n'));
    const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (d: Buffer) => (this.#output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.#output += d.toString()));
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`sentinel exited (${child.exitCode}):\n${this.#output}`);
      return redisReachable(`redis://127.0.0.1:${this.port}`, 200);
    }, () => `sentinel to start on port ${this.port}:\n${this.#output}`, timeoutMs);
  }

  /** Runs one command on the sentinel (e.g. `['SENTINEL', 'FAILOVER', name]`). */
  async command(args: string[]): Promise<unknown> {
    const client = createClient({ url: `redis://127.0.0.1:${this.port}`, ...(this.password === undefined ? {} : { password: this.password }) });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await client.sendCommand(args);
    } finally {
      client.destroy();
    }
  }

  /** The port of the master the sentinel currently names. */
  async masterPortNow(): Promise<number> {
    const reply = (await this.command(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName])) as string[] | null;
    return Number(reply?.[1] ?? 0);
  }

  /** SIGKILLs the sentinel, keeping its directory: {@link start} brings it back on the same port. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** SIGKILLs the sentinel and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
