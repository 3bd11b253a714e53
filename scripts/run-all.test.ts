/**
 * `npm test` runs lint, typecheck and the tests through scripts/run-all.mjs: it must fail
 * when any one of its scripts fails (whichever ends first), and show every script's output.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const RUN_ALL = fileURLToPath(new URL('./run-all.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'celeriac-run-all-'));
writeFileSync(
  join(dir, 'package.json'),
  JSON.stringify({
    name: 'run-all-fixture',
    private: true,
    scripts: {
      ok: 'node -e "console.log(\'ok-output\')"',
      bad: 'node -e "console.error(\'bad-output\'); process.exit(3)"',
    },
  }),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runAll = (...names: string[]) =>
  spawnSync(process.execPath, [RUN_ALL, ...names], { cwd: dir, encoding: 'utf8' });

describe('scripts/run-all.mjs', () => {
  it('exits 0 when every script passes, with each one named in the output', () => {
    const r = runAll('ok', 'ok');
    expect(r.status).toBe(0);
    expect(r.stdout.match(/ok-output/g)).toHaveLength(2);
    expect(r.stdout).toMatch(/> ok: exit 0/);
  });

  it('exits 1 when one script fails, after showing both outputs', () => {
    const r = runAll('ok', 'bad');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ok-output');
    expect(r.stdout).toContain('bad-output');
    expect(r.stdout).toMatch(/> bad: exit 3/);
  });

  it('a --live script prints as it goes and its failure fails the whole', () => {
    const r = runAll('ok', '--live', 'bad');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ok-output');
    expect(r.stderr).toContain('bad-output');
    expect(r.stdout).toMatch(/> bad: exit 3/);
    const passing = runAll('ok', '--live', 'ok');
    expect(passing.status).toBe(0);
    expect(passing.stdout.match(/ok-output/g)).toHaveLength(2);
  });

  it('refuses to run nothing', () => {
    for (const r of [runAll(), runAll('--live'), runAll('ok', '--live', 'ok', '--live')]) {
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/usage/);
    }
  });
});
