/**
 * Runs the quickstart exactly as `npm start` does (minus the build) and checks its output,
 * so a change that breaks the first thing a user runs fails the test suite.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('examples/quickstart', () => {
  it('runs to completion and prints the expected results', async () => {
    const env = { ...process.env };
    // Whatever the surrounding shell says, the quickstart must run on the embedded broker.
    delete env.CELERY_BROKER_URL;
    delete env.CELERY_RESULT_BACKEND;
    delete env.CELERIAC_BROKER_URL;
    delete env.CELERIAC_RESULT_BACKEND;
    delete env.CELERIAC_LOG_LEVEL;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart/main.ts'], {
      cwd: root,
      env,
      timeout: 30_000,
    });
    // execFile rejects on a non-zero exit code or a timeout, so reaching here means exit 0.
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^worker celery@\S+ consuming celery$/);
    expect(stdout).toContain('add(2, 3) = 5\n');
    const countdown = /add\(20, 22\) with countdown 1 s = 42 after (\d+\.\d) s/.exec(stdout);
    expect(countdown).not.toBeNull();
    expect(Number(countdown?.[1])).toBeGreaterThanOrEqual(0.9);
    expect(stdout).toContain('add(2, 2) = 4\n');
    expect(stdout).toContain('linked add(4, 10) = 14\n');
    expect(stdout).toContain("sendTask('proj.add', [1, 1]) = 2\n");
    // The exact progress step seen depends on timing; the state must not be final yet.
    expect(stdout).toMatch(/progress: state while running = (PENDING|PROGRESS)/);
    expect(stdout).toMatch(/progress: result = \{"steps":3,"by":"celery@\S+"\}\n/);
    expect(stdout).toContain('fail(-1) raised TypeError (module builtins): cannot charge -1: amounts must be positive\n');
    expect(stdout).toContain('fail(-1) state = FAILURE\n');
    expect(lines.at(-1)).toBe('done');
  }, 40_000);
});
