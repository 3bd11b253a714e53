import { describe, expect, it } from 'vitest';
import { celeryConfig, parseAmqpArgs } from './amqp-args.js';
import { UsageError } from './args.js';
import { amqpMarkdown, bestCeleryConfig, verdict, type AmqpRun, type DrainRun, type RoundTripRun } from './amqp-report.js';

describe('bench:amqp flags', () => {
  it('defaults to both queue types, three Celeriac concurrencies and two Celery configurations (not threads:10, which stalls on RabbitMQ)', () => {
    const a = parseAmqpArgs([]);
    expect(a).toMatchObject({ n: 20_000, rounds: 3, roundTrips: 1000, rtWarmup: 3000, queueTypes: ['classic', 'quorum'], concurrency: [1, 10, 100], floors: false });
    expect(a.celery).toEqual([
      { pool: 'prefork', concurrency: 2 },
      { pool: 'threads', concurrency: 100 },
    ]);
    expect(parseAmqpArgs(['--celery', 'threads:10']).celery).toEqual([{ pool: 'threads', concurrency: 10 }]);
  });

  it('takes lists, skips Celery on request, and refuses what it cannot run with', () => {
    expect(parseAmqpArgs(['--queue-types', 'quorum', '--concurrency', '100,10,10', '--skip-celery'])).toMatchObject({ queueTypes: ['quorum'], concurrency: [10, 100], celery: [] });
    expect(parseAmqpArgs(['--round-trips', '200', '--rt-warmup', '0'])).toMatchObject({ roundTrips: 200, rtWarmup: 0 });
    expect(celeryConfig('gevent:100')).toEqual({ pool: 'gevent', concurrency: 100 });
    for (const bad of [['--queue-types', 'stream'], ['--celery', 'solo:1'], ['--celery', 'threads'], ['--n', '0'], ['--rounds', 'x'], ['--rt-warmup', '-1'], ['--concurrency', ''], ['--bogus'], ['positional']]) {
      expect(() => parseAmqpArgs(bad), bad.join(' ')).toThrow(UsageError);
    }
  });
});

const drain = (side: DrainRun['side'], config: string, tasksPerSec: number, round = 1, queueType: DrainRun['queueType'] = 'classic'): DrainRun => ({
  side,
  queueType,
  config,
  round,
  n: 1000,
  tasksPerSec,
  enqueuePerSec: 5000,
  workerCpuUs: side === 'celeriac' ? 50 : 300,
  clientCpuUs: 30,
  rabbitCpuUs: 60,
  peakRssMb: side === 'celeriac' ? 90 : 60,
  load: 4.2,
});
const rt = (side: RoundTripRun['side'], p50: number, p99: number): RoundTripRun => ({ side, queueType: 'classic', config: side === 'celeriac' ? 'c=10' : 'threads -c 10', round: 1, samples: 300, p50, p99, peakRssMb: 80, load: 3.1 });

describe('bench:amqp report', () => {
  it("compares every Celeriac drain with Celery's fastest configuration by median", () => {
    const drains = [drain('celery', 'prefork -c 2', 700), drain('celery', 'threads -c 100', 2000), drain('celery', 'threads -c 100', 2600, 2), drain('celery', 'prefork -c 2', 3000, 2), drain('celery', 'prefork -c 2', 650, 3)];
    expect(bestCeleryConfig(drains, 'classic')).toBe('threads -c 100');
    expect(bestCeleryConfig(drains, 'quorum')).toBeUndefined();
  });

  it('says whether each target is met, in the right direction', () => {
    expect(verdict(10_000, 2_000, 5, true).text).toContain('**met**');
    expect(verdict(9_000, 2_000, 5, true).text).toContain('not met');
    expect(verdict(0.9, 1.0, 1, false).text).toContain('**met**');
    expect(verdict(1.2, 1.0, 1, false).text).toContain('not met');
    expect(verdict(1, Number.NaN, 1, false).text).toContain('n/a');
  });

  it('writes one table per queue type with the load of every figure, and the failed steps', () => {
    const run: AmqpRun = {
      started: '2026-11-25 13:00',
      finished: '2026-11-25 13:10',
      host: 'vm',
      commit: 'abc1234',
      command: 'npm run bench:amqp',
      n: 1000,
      rounds: 1,
      celeryVersions: { classic: '5.2.6' },
      rabbitmq: '3.10.8',
      loadBefore: [1, 2, 3],
      loadAfter: [4, 5, 6],
      drains: [drain('celeriac', 'c=1', 2000), drain('celeriac', 'c=100', 11_000), drain('celery', 'threads -c 100', 2000)],
      roundTrips: [rt('celeriac', 0.9, 5), rt('celery', 1.0, 4)],
      floors: [],
      notes: ['round 1 quorum celery prefork -c 2 failed: boom'],
    };
    const md = amqpMarkdown(run);
    expect(md).toContain('### Classic queues: Celeriac against Celery 5.2.6');
    expect(md).not.toContain('### Quorum queues');
    expect(md).toMatch(/\| drain c=100, late acks, rpc:\/\/ \(tasks\/s, n=1,000\) \| 11,000 \| 2,000 \| 5\.50x \| ≥ 5x: \*\*met\*\* \| 4\.2 \|/);
    expect(md).toMatch(/\| drain c=1, .* \| 1\.00x \| ≥ 5x: not met \|/);
    expect(md).toMatch(/\| round trip p50, .* \| 0\.90 \| 1\.00 \| 0\.90x \| ≤ 1x: \*\*met\*\* \| 3\.1 \|/);
    expect(md).toMatch(/\| round trip p99, .* \| 5\.00 \| 4\.00 \| 1\.25x \| ≤ 1x: not met \|/);
    expect(md).toContain('- round 1 quorum celery prefork -c 2 failed: boom');
    // Rows of a table have as many cells as its header.
    for (const line of md.split('\n').filter((l) => l.startsWith('| drain') || l.startsWith('| round trip'))) expect(line.split('|').length).toBe(8);
  });
});
