/**
 * scripts/check-refs.mjs bites: on a fake repository each kind of dangling reference (a file,
 * an npm script, a setting, a linked symbol or member, a document kept outside the repository)
 * is reported with its file and line, and the same references made true pass. The last case
 * runs it on this repository, as `npm run lint` does.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./check-refs.mjs', import.meta.url));

function fakeRepo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'check-refs-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  spawnSync('git', ['init', '-q'], { cwd: dir });
  return dir;
}

function run(root: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, '--root', root], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

const BASE = {
  'package.json': JSON.stringify({ name: 'fake', scripts: { lint: 'true' } }),
  'packages/celeriac/src/core/settings.ts': 'export const SETTINGS = {\n  taskAcksLate: setting<boolean>({}),\n};\n',
  'packages/celeriac/src/worker/executor.ts': '/** Runs deliveries. */\nexport class Executor {\n  conclude(): void {}\n}\n',
};

describe('check-refs', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('reports every kind of reference to what does not exist, with its line', () => {
    const dir = fakeRepo({
      ...BASE,
      'docs/guide.md': [
        '# Guide',
        'The executor is `worker/executor.ts`; settling is in `worker/settle-here.ts`.',
        'Run `npm run lint`, then `npm run docs:everything`.',
        'Set `taskAcksLate` and `taskAcksEarly`.',
        'See `Executor.conclude` and `Executor.decide`.',
        'As the design says (DESIGN §2.6), and flower-spec.md too.',
        '',
      ].join('\n'),
      'packages/celeriac/src/worker/pool.ts': '/** Feeds {@link Executor.conclude}, {@link Executor.vanished} and {@link Nowhere}; see set-aside.lua. */\nexport const x = 1;\n',
      'packages/celeriac/src/worker/fast.ts': '// Built once: a getter cost 0.4 us a task.\nexport const y = 1; // and 8 % more CPU\n',
    });
    dirs.push(dir);
    const { status, out } = run(dir);
    expect(status).toBe(1);
    const lines = out.split('\n').filter((l) => /^\S+:\d+: /.test(l));
    expect(lines.sort()).toEqual(
      [
        'docs/guide.md:2: names a file that does not exist: worker/settle-here.ts',
        'docs/guide.md:3: names an npm script that does not exist: npm run docs:everything',
        'docs/guide.md:4: names a setting that does not exist: taskAcksEarly',
        'docs/guide.md:5: names a member that Executor does not have: Executor.decide',
        'docs/guide.md:6: cites a document kept outside the repository: DESIGN § (say what it says, or cite docs/)',
        'docs/guide.md:6: cites a document kept outside the repository: flower-spec.md (say what it says, or cite docs/)',
        'docs/guide.md:6: names a file that does not exist: flower-spec.md',
        'packages/celeriac/src/worker/pool.ts:1: links a member that Executor does not have: Executor.vanished',
        'packages/celeriac/src/worker/pool.ts:1: links a symbol that is not declared: Nowhere',
        'packages/celeriac/src/worker/pool.ts:1: names a file that does not exist: set-aside.lua',
        'packages/celeriac/src/worker/fast.ts:1: records a tuning figure (0.4 us): keep the why, put the figure in bench results',
        'packages/celeriac/src/worker/fast.ts:2: records a tuning figure (8 % more CPU): keep the why, put the figure in bench results',
      ].sort(),
    );
  });

  it('passes when every reference resolves (beside the citing file, from the root, or as the end of a path)', () => {
    const dir = fakeRepo({
      ...BASE,
      'packages/celeriac/src/brokers/redis/scripts/set-aside.lua': '-- set-aside\n',
      'docs/guide.md': 'The executor is `worker/executor.ts` ([next](next.md)), set aside by set-aside.lua; `npm run lint`; `taskAcksLate`; `Executor.conclude`.\n',
      'docs/next.md': '# Next\n',
      'packages/celeriac/src/worker/pool.ts': '// Feeds {@link Executor.conclude}; see ./executor.ts and https://example.com/missing.ts\nexport const x = 1;\n',
    });
    dirs.push(dir);
    const { status, out } = run(dir);
    expect(out).toMatch(/references resolved/);
    expect(status).toBe(0);
  });

  it('finds nothing missing in this repository', { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
