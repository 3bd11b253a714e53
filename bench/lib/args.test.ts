import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, UsageError } from './args.js';

describe('parseBenchArgs', () => {
  it('gives the defaults of a full run', () => {
    expect(parseBenchArgs([])).toEqual({
      help: false,
      quick: false,
      peers: ['celeriac', 'bullmq', 'bee-queue', 'celery'],
      rounds: 5,
      redisHost: '127.0.0.1',
      redisPort: 6379,
      db: 0,
      stepTimeoutSec: 120,
    });
    expect(parseBenchArgs(['--quick']).rounds).toBe(1);
  });

  it('reads every flag', () => {
    const args = parseBenchArgs(['--only', 'Celery, celeriac', '--only', 'bullmq', '--rounds', '3', '--redis', 'redis.local:6390', '--db', '2', '--step-timeout', '30', '--cpu-prof', '/tmp/p']);
    // Peers keep the bench's order, whatever the order given.
    expect(args).toMatchObject({ peers: ['celeriac', 'bullmq', 'celery'], rounds: 3, redisHost: 'redis.local', redisPort: 6390, db: 2, stepTimeoutSec: 30, cpuProf: '/tmp/p' });
    expect(parseBenchArgs(['-h']).help).toBe(true);
  });

  it.each([
    [['--nope'], /Unknown option '--nope'/],
    [['--only', 'rq'], /--only: unknown peer "rq"; known: celeriac, bullmq, bee-queue, celery/],
    [['--rounds', '0'], /--rounds must be a whole number from 1/],
    [['--rounds', '2.5'], /--rounds must be a whole number/],
    [['--db', 'x'], /--db must be a whole number from 0/],
    [['--step-timeout', '0'], /--step-timeout must be a whole number from 1/],
    [['--redis', 'localhost'], /--redis must be host:port, got "localhost"/],
    [['--redis', 'localhost:70000'], /--redis port must be a whole number from 1 to 65535/],
  ])('refuses %j with a line that names the flag', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});

describe('npm run bench', () => {
  const run = (...argv: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../run.ts', import.meta.url)), ...argv]);

  it('prints its usage for --help and touches nothing else', async () => {
    const { stdout } = await run('--help');
    expect(stdout).toMatch(/^Usage: npm run bench -- \[flags\]/);
    expect(stdout).toContain('--step-timeout <s>');
  });

  it('refuses a bad flag with the reason and the usage, exit code 2, before measuring', async () => {
    const failed = await run('--rounds', 'many').then(() => null, (err: unknown) => err as { code: number; stderr: string; stdout: string });
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^bench: --rounds must be a whole number from 1 to \d+, got "many"\n\nUsage:/);
    expect(failed?.stdout).toBe('');
  });
});

describe('bench/ab.ts', () => {
  const run = (...argv: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../ab.ts', import.meta.url)), ...argv]).then(
      () => null,
      (err: unknown) => err as { code: number; stderr: string },
    );

  it('refuses a --redis that is not host:port, exit code 2, before building or measuring anything', async () => {
    const failed = await run('--base', 'HEAD', '--redis', 'localhost');
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^ab: --redis must be host:port, got "localhost"\nusage: .*\[--redis 127\.0\.0\.1:6379\]/);
    expect((await run('--base', 'HEAD', '--redis', 'localhost:0'))?.stderr).toMatch(/^ab: --redis port must be a whole number from 1 to 65535/);
  });
});
