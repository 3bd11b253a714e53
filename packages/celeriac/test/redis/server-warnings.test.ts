/**
 * Operator warnings at worker start, read with CONFIG GET from private redis-servers (own
 * ports): an evicting maxmemory-policy and a Redis without persistence are each named in a
 * warning; a safe Redis gets none; where the worker's ACL user may not run CONFIG, nothing is
 * said and the worker starts as usual. The wording: src/brokers/redis/server-checks.test.ts.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, Worker } from '../../src/index.js';
import { freePort, RedisServerProcess, redisServerOnPath } from '../support/redis.js';
import { plainClient } from '../failure/support.js';

const hasRedisServer = redisServerOnPath('redis: server warnings');

describe.runIf(hasRedisServer)('redis: operator warnings at worker start', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  /** Starts a worker on `url` (checks done by then) and returns its warnings and error-level lines. */
  async function startupWarnings(url: string): Promise<{ checks: string[]; errors: string[] }> {
    const lines: { level: number; msg: string; check?: string }[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]), done()) });
    const app = createApp({ broker: url, backend: url }, { env: {}, logger: pino({ level: 'info' }, sink) });
    cleanup.push(() => app.close());
    const worker = new Worker(app, { hostname: `checks-${process.pid}@test` });
    cleanup.push(() => worker.close({ deadlineMs: 1000 }));
    await worker.start();
    expect(worker.state).toBe('running');
    return { checks: lines.filter((l) => l.check === 'broker-server').map((l) => l.msg), errors: lines.filter((l) => l.level >= 50).map((l) => l.msg) };
  }

  async function server(args: string[]): Promise<RedisServerProcess> {
    const s = new RedisServerProcess(await freePort(), args);
    await s.start();
    cleanup.push(() => s.kill());
    return s;
  }

  it('names an evicting policy and the lack of persistence', async () => {
    const s = await server(['--maxmemory-policy', 'allkeys-lru']);
    const { checks } = await startupWarnings(s.url);
    expect(checks).toEqual([
      expect.stringMatching(new RegExp(`^broker Redis 127\\.0\\.0\\.1:${s.port} has maxmemory-policy allkeys-lru: at maxmemory it evicts any key`)),
      expect.stringMatching(/saves nothing \(appendonly no, save ""\): a restart of it loses every queued task/),
    ]);
  }, 30_000);

  it('says nothing of a Redis with noeviction and an append-only file', async () => {
    const s = await server(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes', '--appenddirname', `celeriac-checks-${process.pid}-aof`]);
    expect((await startupWarnings(s.url)).checks).toEqual([]);
  }, 30_000);

  it('says nothing, and starts, where the ACL forbids CONFIG', async () => {
    const s = await server(['--maxmemory-policy', 'allkeys-lru']);
    const raw = await plainClient(s.url);
    await raw.sendCommand(['ACL', 'SETUSER', 'worker', 'on', '>pw', '~*', '&*', '+@all', '-config']);
    await raw.close();
    const { checks, errors } = await startupWarnings(`redis://worker:pw@127.0.0.1:${s.port}/0`);
    expect(checks).toEqual([]);
    expect(errors).toEqual([]);
  }, 30_000);
});
