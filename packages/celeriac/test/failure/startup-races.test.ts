/**
 * Start-up races on private redis-servers (own ports): a worker started while its Redis is up
 * but not serving (LOADING a large dataset: the compose/systemd restart race; a READONLY
 * replica during a failover; OOM at maxmemory) waits, with one warning per state and the next
 * retry time, and starts once the state clears; a Redis that refuses the credentials or the
 * configuration (WRONGPASS, an ACL without the permission, a database it does not have) ends
 * the start at once with a CONFIG error. At run time, a Redis at maxmemory gets one warning,
 * a growing backoff and one line once fetching works again, not a stack trace per retry.
 * The CLI side (exit status 78, SIGTERM during a wait): startup-races-cli.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, ErrorCodes, Worker, type Settings } from '../../src/index.js';
import { freePort, RedisServerProcess, redisServerOnPath } from '../support/redis.js';
import { waitFor } from 'celeriac/testing';
import { plainClient } from './support.js';

const hasRedisServer = redisServerOnPath('failure: start-up races');

interface Line { level: number; time: number; msg: string; state?: string; retryAt?: string; err?: unknown }

/** An app on `url` whose log lines (debug and up) are kept; retries every 0.2 s, +0.2 s, at most 1 s. */
function appOn(url: string, settings: Settings = {}) {
  const lines: Line[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Line), done()) });
  const app = createApp({
    broker: url, backend: url, brokerTransportOptions: { connectTimeoutMs: 2000, pollIntervalMs: 50 },
    brokerConnectionRetryIntervals: { intervalStart: 0.2, intervalStep: 0.2, intervalMax: 1 }, ...settings,
  }, { env: {}, logger: pino({ level: 'debug' }, sink) });
  app.task('race.add', (x: number, y: number) => x + y);
  const at = (level: number) => lines.filter((l) => l.level === level);
  return { app, lines, warns: () => at(40), debugs: () => at(20) };
}

/**
 * An RDB of `keys` keys, loaded back at about 1 ms a key (Redis's own `key-load-delay` test
 * knob) while answering LOADING to everything else: a Redis restarting with a large dataset.
 */
async function loadingServer(keys: number): Promise<{ server: RedisServerProcess; done: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-loading-'));
  const files = ['--dir', dir, '--dbfilename', 'big.rdb'];
  const maker = new RedisServerProcess(await freePort(), [...files, '--enable-debug-command', 'local']);
  await maker.start();
  const raw = await plainClient(maker.url);
  await raw.sendCommand(['DEBUG', 'POPULATE', String(keys), 'filler', '64']);
  await raw.sendCommand(['SAVE']);
  await raw.close();
  await maker.kill();
  const server = new RedisServerProcess(await freePort(), [...files, '--key-load-delay', '1000', '--loading-process-events-interval-bytes', '1024']);
  await server.start();
  return { server, done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe.runIf(hasRedisServer)('failure: start-up races', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** Starts a worker on `url`; returns it, its start and its log. */
  function startWorker(url: string, name: string, settings: Settings = {}) {
    const log = appOn(url, settings);
    cleanup.push(() => log.app.close());
    const worker = new Worker(log.app, { hostname: `${name}-${process.pid}@test`, concurrency: 1 });
    cleanup.push(() => worker.close({ deadlineMs: 1000 }));
    const starting = worker.start();
    starting.catch(() => undefined);
    return { ...log, worker, starting };
  }

  /** The worker waits in `state` (one warning, repeats at debug), then runs a task once `clear` ran. */
  async function waitsThenRuns(w: ReturnType<typeof startWorker>, state: string, clear: () => Promise<void>) {
    await waitFor(() => w.debugs().some((l) => l.state === state), `a second ${state} attempt`, 20_000);
    expect(w.worker.state).toBe('starting');
    const shown = w.warns().filter((l) => l.state === state);
    expect(shown).toHaveLength(1);
    expect(shown[0]?.msg).toMatch(new RegExp(`^Cannot connect to broker redis://127\\.0\\.0\\.1:\\d+/0: .*${state}.*\\. Trying again in 0\\.20 seconds\\.\\.\\. \\(1\\)$`));
    expect(Date.parse(shown[0]?.retryAt ?? '')).toBeGreaterThan(0);
    // No stack trace per attempt: no line of the wait carries an error object.
    expect(w.lines.filter((l) => l.err !== undefined)).toEqual([]);
    await clear();
    await w.starting;
    expect(w.worker.state).toBe('running');
    expect(w.lines.some((l) => /^Connected to broker .* after \d+ attempts\.$/.test(l.msg))).toBe(true);
    const r = await w.app.sendTask('race.add', [20, 22]);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
  }

  it('a Redis still LOADING its dataset: waits, then starts once it has loaded', async () => {
    const { server, done } = await loadingServer(8000);
    cleanup.push(done, () => server.kill());
    const w = startWorker(server.url, 'loading');
    // Loading ends on its own (about 8 s): the "clear" step only waits for the start.
    await waitsThenRuns(w, 'LOADING', async () => undefined);
  }, 60_000);

  it('a READONLY replica (a failover in progress): waits, then starts once it is promoted', async () => {
    const server = new RedisServerProcess(await freePort(), ['--replicaof', '127.0.0.1', String(await freePort())]);
    await server.start();
    cleanup.push(() => server.kill());
    const w = startWorker(server.url, 'readonly');
    await waitsThenRuns(w, 'READONLY', async () => {
      const raw = await plainClient(server.url);
      await raw.sendCommand(['REPLICAOF', 'NO', 'ONE']);
      await raw.close();
    });
  }, 60_000);

  it('a Redis at maxmemory (OOM): waits, then starts once memory is freed', async () => {
    const server = new RedisServerProcess(await freePort(), ['--maxmemory', '1', '--maxmemory-policy', 'noeviction']);
    await server.start();
    cleanup.push(() => server.kill());
    const w = startWorker(server.url, 'oom');
    await waitsThenRuns(w, 'OOM', async () => {
      const raw = await plainClient(server.url);
      await raw.configSet('maxmemory', '0');
      await raw.close();
    });
  }, 60_000);

  it('a wrong password ends the start at once with CONFIG, saying so once, without the password', async () => {
    const server = new RedisServerProcess(await freePort(), ['--requirepass', 'right-one']);
    await server.start();
    cleanup.push(() => server.kill());
    const w = startWorker(`redis://:hunter2@127.0.0.1:${server.port}/0`, 'wrongpass');
    const err = await w.starting.then(() => null, (e: unknown) => e as Error);
    expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
    expect(err?.message.match(/WRONGPASS/g)).toHaveLength(1);
    expect(err?.message).not.toContain('hunter2');
    // Not one retry: no "Cannot connect" line, nothing with a stack.
    expect(w.lines.filter((l) => l.level >= 40)).toEqual([]);
  }, 30_000);

  it('a database the server does not have, or an ACL user without the permission, ends the start with CONFIG', async () => {
    const server = new RedisServerProcess(await freePort(), ['--databases', '4']);
    await server.start();
    cleanup.push(() => server.kill());
    const raw = await plainClient(server.url);
    await raw.sendCommand(['ACL', 'SETUSER', 'nokeys', 'on', '>pw', '+@all', '~elsewhere:*', '&*']);
    await raw.close();
    const db = startWorker(`redis://127.0.0.1:${server.port}/9`, 'baddb');
    await expect(db.starting).rejects.toMatchObject({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/DB index is out of range/) as unknown });
    const acl = startWorker(`redis://nokeys:pw@127.0.0.1:${server.port}/0`, 'noperm');
    await expect(acl.starting).rejects.toMatchObject({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/NOPERM/) as unknown });
    expect([...db.lines, ...acl.lines].filter((l) => l.level >= 40)).toEqual([]);
  }, 30_000);

  it('a broker Redis that stops serving while the worker runs (MASTERDOWN): one warning per state, a growing wait, one line when it serves again', async () => {
    const server = new RedisServerProcess(await freePort());
    await server.start();
    cleanup.push(() => server.kill());
    const w = startWorker(server.url, 'masterdown');
    await w.starting;
    const raw = await plainClient(server.url);
    cleanup.push(() => raw.close());
    const before = w.lines.length;
    // A replica whose master is gone, told not to serve stale data: every command is refused.
    await raw.configSet('replica-serve-stale-data', 'no');
    await raw.sendCommand(['REPLICAOF', '127.0.0.1', String(await freePort())]);
    const during = () => w.lines.slice(before).filter((l) => l.state === 'MASTERDOWN' && l.retryAt !== undefined);
    await waitFor(() => during().length >= 6, 'six failed fetches', 30_000);
    // Fetches and background duties (lease renewal, ETA promotion...) all fail: one warning per
    // state in all, however often they take turns (reads: MASTERDOWN; a duty's write: READONLY).
    // REPLICAOF drops the clients it finds blocked: when that was the fetch's doorbell, the
    // connection's loss and return and the fetch's failure on it are one warning each too.
    const shown = w.lines.slice(before).filter((l) => l.level >= 40);
    const why = JSON.stringify(shown.map((l) => [l.state, l.msg]));
    const broker = shown.filter((l) => l.msg.startsWith('broker: '));
    const states = broker.map((l) => l.state);
    expect(new Set(states).size, why).toBe(states.length);
    expect(states.filter((s) => s !== 'READONLY' && s !== 'Socket closed unexpectedly'), why).toEqual(['MASTERDOWN']);
    for (const l of shown.filter((x) => !broker.includes(x))) expect(l.msg, why).toMatch(/^redis connection (lost \(Socket closed unexpectedly\)|back after \d+ failed attempts?)/);
    expect(broker.find((l) => l.state === 'MASTERDOWN')?.msg).toMatch(/^broker: .*MASTERDOWN .*; logged again when this changes$/);
    expect(during()[0]?.msg).toMatch(/^broker: .*MASTERDOWN .*; retrying in \d+\.\d s \(at .*\)(; logged again when this changes)?$/);
    // The waits grow (100 ms doubling, with jitter: retry 6 waits at least 1.6 s, retry 1 at most 0.1 s).
    const gaps = during().map((l) => Date.parse(l.retryAt ?? '') - l.time);
    expect(gaps[5]).toBeGreaterThan(gaps[0] ?? Infinity);
    expect(w.lines.slice(before).filter((l) => l.err !== undefined)).toEqual([]);
    await raw.sendCommand(['REPLICAOF', 'NO', 'ONE']);
    await waitFor(() => w.lines.some((l) => /^broker: working again after \d+ failures over [\d.]+ s \(last: MASTERDOWN\)$/.test(l.msg)), 'the recovery line', 20_000);
    const r = await w.app.sendTask('race.add', [3, 4]);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(7);
  }, 60_000);
});
