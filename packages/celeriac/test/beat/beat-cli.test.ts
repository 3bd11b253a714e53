/** `celeriac beat` argument handling, in process (the running command is covered by beat-failover.test.ts). */
import { describe, expect, it } from 'vitest';
import { makeApp, run } from '../cli/helpers.js';

describe('celeriac beat (arguments)', () => {
  it('rejects a bad --max-interval and an unknown log level with exit code 2', async () => {
    const { app } = makeApp();
    const bad = await run(['beat', '--max-interval', '0'], { app });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-interval "0": must be greater than 0 \(setting beatMaxLoopIntervalSec\)/);
    const level = await run(['beat', '-l', 'loud'], { app });
    expect(level.code).toBe(2);
    expect(level.stderr).toMatch(/--loglevel "loud": must be one of/);
  });

  it('lists beat and worker -B in the help', async () => {
    const help = await run(['--help']);
    expect(help.stdout).toMatch(/beat\s+\[options\]\s+Run the periodic task scheduler/);
    const worker = await run(['worker', '--help']);
    expect(worker.stdout).toMatch(/-B, --beat/);
  });
});
