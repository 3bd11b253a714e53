import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { parseApiArgs } from './api-args.js';
import { closedLoop, readUntilFinal, takeSseEvents } from './api-load.js';
import { apiErrors, renderApiTable, type ApiMeasurement } from './api-report.js';

const stream = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });

describe('parseApiArgs', () => {
  it('gives the defaults and reads every flag', () => {
    expect(parseApiArgs([])).toEqual({
      help: false, requests: 2000, warmup: 200, concurrencies: [1, 10, 50], workerConcurrency: 10, stacks: ['celeriac', 'bullmq'],
      redisHost: '127.0.0.1', redisPort: 6379, db: 0, postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres', timeoutSec: 900,
    });
    expect(parseApiArgs(['--requests', '50', '--warmup', '0', '--concurrency', '4, 1,4', '--worker-concurrency', '3', '--only', 'BullMQ', '--redis', 'h:1', '--db', '2', '--postgres', 'postgresql://u@db/x', '--timeout', '60', '--out', '/tmp/o']))
      .toEqual({ help: false, requests: 50, warmup: 0, concurrencies: [4, 1], workerConcurrency: 3, stacks: ['bullmq'], redisHost: 'h', redisPort: 1, db: 2, postgresUrl: 'postgresql://u@db/x', timeoutSec: 60, outDir: '/tmp/o' });
  });

  it.each([
    [['--nope'], /Unknown option '--nope'/],
    [['--requests', '0'], /--requests must be a whole number from 1/],
    [['--concurrency', '1,,2'], /--concurrency must be a whole number from 1 to 1000, got ""/],
    [['--concurrency', '5000'], /--concurrency must be a whole number from 1 to 1000/],
    [['--only', 'rq'], /--only: unknown service "rq"; known: celeriac, bullmq/],
    [['--postgres', 'mysql://x/y'], /--postgres must be a postgres:\/\/ URL/],
    [['--postgres', 'not a url'], /--postgres must be a postgres:\/\/ URL/],
    [['--timeout', '-5'], /argument is ambiguous|--timeout must be/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseApiArgs(argv)).toThrow(UsageError);
    expect(() => parseApiArgs(argv)).toThrow(message);
  });
});

describe('takeSseEvents / readUntilFinal', () => {
  it('splits events, skips comments and retry lines, joins data lines, and keeps an unfinished tail', () => {
    const { events, rest } = takeSseEvents('retry: 2000\n\n: keepalive\n\nevent: task\ndata: {"a":\ndata: 1}\n\r\ndata: plain\n\nevent: task\ndata: {"half');
    expect(events).toEqual([{ event: 'task', data: '{"a":\n1}' }, { event: 'message', data: 'plain' }]);
    expect(rest).toBe('event: task\ndata: {"half');
  });

  it('reads until the first final task event, across chunk boundaries', async () => {
    const s = stream('retry: 2000\n\nevent: task\ndata: {"state":"PEN', 'DING"}\n\nevent: task\ndata: {"state":"STARTED"}\n\nevent: other\ndata: {"state":"SUCCESS"}\n\n', 'event: task\ndata: {"state":"SUCCESS","result":"3"}\n\n');
    await expect(readUntilFinal(s)).resolves.toEqual({ state: 'SUCCESS', result: '3' });
  });

  it('fails when the stream ends first, or carries something that is not JSON', async () => {
    await expect(readUntilFinal(stream('event: task\ndata: {"state":"STARTED"}\n\n'))).rejects.toThrow(/ended before a final state/);
    await expect(readUntilFinal(stream('event: task\ndata: <html>\n\n'))).rejects.toThrow(SyntaxError);
  });
});

describe('closedLoop', () => {
  it('makes each call once, never more than `concurrency` at a time, and counts failures apart', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    const r = await closedLoop(40, 4, async (i) => {
      running++;
      peak = Math.max(peak, running);
      seen.push(i);
      await new Promise((resolve) => setTimeout(resolve, 1));
      running--;
      if (i % 10 === 0) throw new Error(`boom ${i}`);
    });
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(peak).toBe(4);
    expect(r).toMatchObject({ n: 36, concurrency: 4, errors: 4, firstError: 'boom 0' });
    expect(r.p50Ms).toBeGreaterThan(0);
  });

  it('starts no call after the deadline', async () => {
    const r = await closedLoop(1000, 2, () => new Promise((resolve) => setTimeout(resolve, 5)), performance.now() + 30);
    expect(r.n).toBeLessThan(1000);
    expect(r.errors).toBe(0);
  });
});

describe('renderApiTable', () => {
  const m = (stack: 'celeriac' | 'bullmq', concurrency: number, perSec: number, errors = 0): ApiMeasurement => ({
    stack,
    load: { n: 1000, concurrency, seconds: 1000 / perSec, perSec, p50Ms: 2, p99Ms: 8, errors, ...(errors > 0 ? { firstError: 'x' } : {}) },
    serverCpuSec: 0.5,
  });

  it('writes one block per concurrency with the Celeriac / BullMQ ratio', () => {
    const table = renderApiTable([m('celeriac', 1, 300), m('bullmq', 1, 200), m('bullmq', 10, 900, 2), m('celeriac', 10, 450)]);
    expect(table.split('\n')[0]).toBe('| Client concurrency | Metric | reference app (Celeriac) | Fastify + BullMQ | Celeriac / BullMQ |');
    expect(table).toContain('| c=1 | requests/s ↑ | 300 | 200 | 1.50x |');
    expect(table).toContain('| c=10 | requests/s ↑ | 450 | 900 | 0.50x |');
    expect(table).toContain('| c=1 | server CPU per call, us (API + worker processes) ↓ | 500 | 500 | 1.00x |');
    expect(table).toContain('| c=10 | errors | 0 | 2 | — |');
    expect(apiErrors([m('bullmq', 10, 900, 2)])).toEqual(['Fastify + BullMQ, c=10: 2 failed calls; first: x']);
  });

  it('has no ratio column with one service', () => {
    expect(renderApiTable([m('bullmq', 1, 200)])).toContain('| c=1 | requests/s ↑ | 200 |');
  });
});

describe('npm run bench:api', () => {
  const run = (...argv: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../api.ts', import.meta.url)), ...argv]);

  it('prints its usage for --help and refuses a bad flag with exit code 2', async () => {
    expect((await run('--help')).stdout).toMatch(/^Usage: npm run bench:api -- \[flags\]/);
    const failed = await run('--only', 'celery').then(() => null, (err: unknown) => err as { code: number; stderr: string });
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^api: --only: unknown service "celery"/);
  });
});
