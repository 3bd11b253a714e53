/**
 * Proves the layering rules in .dependency-cruiser.cjs bite.
 *
 * Each case writes a tiny fake tree mirroring `packages/celeriac/src/...` into a temp dir
 * (beside copies of the real root tsconfig files, so `.js` -> `.ts` resolution is the
 * project's own) and runs the real `depcruise` CLI with the project config on it, exactly
 * as `npm run lint` does. The forbidden tree must report each expected violation and
 * nothing else; the allowed tree must report none while every edge resolves.
 *
 * The last block does the same for the house rules in eslint.config.js.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const SRC = 'packages/celeriac/src';

interface Dependency {
  resolved: string;
  couldNotResolve: boolean;
  dependencyTypes: string[];
}
interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}
interface CruiseResult {
  /** Exit status of the plain `depcruise --config ... <src>` run that `npm run lint` does. */
  lintStatus: number | null;
  modules: { source: string; dependencies: Dependency[] }[];
  violations: Violation[];
}

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (paths relative to packages/celeriac/src) to a temp tree and cruises it. */
function cruise(files: Record<string, string>): CruiseResult {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-depcruise-'));
  tempDirs.push(dir);
  for (const name of ['tsconfig.json', 'tsconfig.base.json']) copyFileSync(join(ROOT, name), join(dir, name));
  for (const [rel, text] of Object.entries(files)) {
    const file = join(dir, SRC, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const depcruise = (...extra: string[]) =>
    spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, ...extra, SRC], {
      cwd: dir,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
  const run = depcruise('--output-type', 'json');
  if (!run.stdout.trim().startsWith('{')) {
    throw new Error(`depcruise produced no JSON (status ${run.status}):\n${run.stderr}\n${run.stdout}`);
  }
  const out = JSON.parse(run.stdout) as {
    modules: CruiseResult['modules'];
    summary: { violations: Violation[] };
  };
  return { lintStatus: depcruise().status, modules: out.modules, violations: out.summary.violations };
}

const p = (rel: string) => `${SRC}/${rel}`;
/** One comparable line per violation; a cycle is reported once, from whichever member depcruise meets first. */
const key = (rule: string, from: string, to: string) =>
  rule === 'no-circular' ? `${rule}: ${[from, to].sort().join(' <-> ')}` : `${rule}: ${from} -> ${to}`;

/** A file that exports one symbol and imports `imports` (lines of source). */
const mod = (...imports: string[]) => `${imports.join('\n')}\nexport const x = 1;\nexport type T = number;\n`;

describe('.dependency-cruiser.cjs', () => {
  it('accepts every allowed edge, and every edge resolves', () => {
    const files = {
      'errors.ts': mod(),
      'protocol/types.ts': mod(`import { x as e } from '../errors.js';`, `export const y = e;`),
      'protocol/message.ts': mod(
        `import { Buffer } from 'node:buffer';`,
        `import type { T as U } from './types.js';`,
        `export const b: U | Buffer = 1;`,
      ),
      'core/clock.ts': mod(`import type { T as P } from '../protocol/types.js';`, `export type Q = P;`),
      'core/app.ts': mod(
        `import { x as e } from '../errors.js';`,
        `import { y } from '../protocol/types.js';`,
        `import type { Q } from './clock.js';`,
        `export const app: Q = e + y;`,
      ),
      // Unit tests beside the code may reach across layers for fixtures (never into cli).
      'core/app.test.ts': mod(
        `import { x as a } from './app.js';`,
        `import { x as f } from '../testing/fake-clock.js';`,
        `import { x as m } from '../brokers/memory/memory-broker.js';`,
        `export const t = a + f + m;`,
      ),
      'canvas/chain.ts': mod(`import { app } from '../core/app.js';`, `export const c = app;`),
      'brokers/shared.ts': mod(`import { app } from '../core/app.js';`, `export const s = app;`),
      'brokers/memory/memory-broker.ts': mod(
        `import { s } from '../shared.js';`,
        `import type { T as P } from '../../protocol/types.js';`,
        `export const mb: P = s;`,
      ),
      'brokers/redis/keys.ts': mod(`import { x as e } from '../../errors.js';`, `export const k = e;`),
      'redis/connection.ts': mod(
        `import { app } from '../core/app.js';`,
        `import { y } from '../protocol/types.js';`,
        `import { x as e } from '../errors.js';`,
        `export const conn = app + y + e;`,
      ),
      'redis/keys.ts': mod(`import { conn } from './connection.js';`, `export const rk = conn;`),
      'brokers/redis/redis-broker.ts': mod(
        `import { k } from './keys.js';`,
        `import { s } from '../shared.js';`,
        `import { conn } from '../../redis/connection.js';`,
        `export const rb = k + s + conn;`,
      ),
      'backends/memory/memory-backend.ts': mod(`import { app } from '../../core/app.js';`, `export const mbe = app;`),
      'backends/redis/redis-backend.ts': mod(`import type { T as C } from '../../redis/connection.js';`, `export type V = C;`),
      'beat/scheduler.ts': mod(`import type { Q } from '../core/clock.js';`, `export const sch: Q = 1;`),
      'monitor/state.ts': mod(`import { y } from '../protocol/types.js';`, `export const st = y;`),
      'worker/consumer.ts': mod(
        `import { c } from '../canvas/chain.js';`,
        `import { sch } from '../beat/scheduler.js';`,
        `import { mb } from '../brokers/memory/memory-broker.js';`,
        `import { mbe } from '../backends/memory/memory-backend.js';`,
        `import { x as e } from '../errors.js';`,
        `export const w = c + sch + mb + mbe + e;`,
      ),
      'testing/fake-clock.ts': mod(
        `import type { Q } from '../core/clock.js';`,
        `import { w } from '../worker/consumer.js';`,
        `import { st } from '../monitor/state.js';`,
        `import { idx } from '../index.js';`,
        `export const fc: Q = w + st + idx;`,
      ),
      'transports.ts': mod(
        `import { rb } from './brokers/redis/redis-broker.js';`,
        `import { mbe } from './backends/memory/memory-backend.js';`,
        `export const tr = rb + mbe;`,
      ),
      'index.ts': mod(
        `import { app } from './core/app.js';`,
        `import { tr } from './transports.js';`,
        `import { w } from './worker/consumer.js';`,
        `export const idx = app + tr + w;`,
      ),
      'cli/main.ts': mod(
        `import { idx } from '../index.js';`,
        `import { fc } from '../testing/fake-clock.js';`,
        `import { st } from '../monitor/state.js';`,
        `import { helper } from './helper.js';`,
        `export const main = idx + fc + st + helper;`,
      ),
      'cli/helper.ts': mod(`export const helper = 1;`),
    };
    const result = cruise(files);

    expect(result.violations.map((v) => key(v.rule.name, v.from, v.to))).toEqual([]);
    expect(result.lintStatus).toBe(0);

    // A rule that never sees an edge cannot fail: every relative import must have resolved to a .ts file.
    const local = result.modules.flatMap((m) => m.dependencies.filter((d) => !d.dependencyTypes.includes('core')));
    expect(local.filter((d) => d.couldNotResolve || !d.resolved.endsWith('.ts'))).toEqual([]);
    const relativeImports = Object.values(files).join('\n').match(/from '\.\.?\//g) ?? [];
    expect(relativeImports.length).toBeGreaterThan(30);
    expect(local).toHaveLength(relativeImports.length);
    const clock = result.modules.find((m) => m.source === p('core/clock.ts'));
    expect(clock?.dependencies).toEqual([
      expect.objectContaining({ resolved: p('protocol/types.ts'), dependencyTypes: expect.arrayContaining(['type-only']) }),
    ]);
  });

  it('reports each forbidden edge, and nothing else', () => {
    const result = cruise({
      'errors.ts': mod(`import type { T as P } from './protocol/types.js';`, `export type E = P;`),
      'protocol/types.ts': mod(),
      // protocol -> core, as a value import and as a type-only import
      'protocol/bad-value.ts': mod(`import { x as c } from '../core/clock.js';`, `export const v = c;`),
      'protocol/bad-type.ts': mod(`import type { T as C } from '../core/clock.js';`, `export type V = C;`),
      'protocol/bad-io.ts': mod(`import { readFileSync } from 'node:fs';`, `export const r = readFileSync;`),
      'protocol/bad-crypto.ts': mod(`import { randomUUID } from 'crypto';`, `export const u = randomUUID;`),
      'core/clock.ts': mod(),
      'core/bad-broker.ts': mod(`import { x as m } from '../brokers/memory/memory-broker.js';`, `export const v = m;`),
      'core/bad-testing.ts': mod(`import { x as f } from '../testing/fake-clock.js';`, `export const v = f;`),
      'core/bad-index.ts': mod(`import type { T as I } from '../index.js';`, `export type V = I;`),
      // the package's own name resolves through the root tsconfig `paths`, so it is an edge too
      'core/bad-self.ts': mod(`import { x as i } from 'celeriac';`, `export const v = i;`),
      'monitor/bad-self.ts': mod(`import type { T as F } from 'celeriac/testing';`, `export type V = F;`),
      'testing/index.ts': mod(),
      // cycles inside one layer: a value cycle and a type-only cycle
      'core/cycle-a.ts': mod(`import { x as b } from './cycle-b.js';`, `export const a = b;`),
      'core/cycle-b.ts': mod(`import { x as a } from './cycle-a.js';`, `export const b = a;`),
      'core/type-cycle-a.ts': mod(`import type { T as B } from './type-cycle-b.js';`, `export type A = B;`),
      'core/type-cycle-b.ts': mod(`import type { T as A } from './type-cycle-a.js';`, `export type B = A;`),
      'core/bad-unresolved.ts': mod(`import { x as n } from './does-not-exist.js';`, `export const v = n;`),
      'brokers/memory/memory-broker.ts': mod(),
      'brokers/redis/bad-worker.ts': mod(`import { x as w } from '../../worker/consumer.js';`, `export const v = w;`),
      'brokers/redis/bad-adapter.ts': mod(`import { x as m } from '../memory/memory-broker.js';`, `export const v = m;`),
      'brokers/redis/bad-backend.ts': mod(
        `import type { T as B } from '../../backends/memory/memory-backend.js';`,
        `export type V = B;`,
      ),
      'backends/memory/memory-backend.ts': mod(),
      'backends/redis/bad-adapter.ts': mod(
        `import type { T as M } from '../memory/memory-backend.js';`,
        `export type V = M;`,
      ),
      'backends/redis/bad-canvas.ts': mod(`import { x as c } from '../../canvas/chain.js';`, `export const v = c;`),
      'canvas/chain.ts': mod(),
      'canvas/bad-worker.ts': mod(`import { x as w } from '../worker/consumer.js';`, `export const v = w;`),
      'beat/bad-monitor.ts': mod(`import { x as s } from '../monitor/state.js';`, `export const v = s;`),
      'monitor/state.ts': mod(),
      'monitor/bad-cli.ts': mod(`import { x as c } from '../cli/main.js';`, `export const v = c;`),
      'worker/consumer.ts': mod(),
      'worker/bad-monitor.ts': mod(`import type { T as S } from '../monitor/state.js';`, `export type V = S;`),
      'worker/bad-cli.ts': mod(`import { x as c } from '../cli/main.js';`, `export const v = c;`),
      'worker/bad-transports.ts': mod(`import { x as t } from '../transports.js';`, `export const v = t;`),
      'testing/fake-clock.ts': mod(),
      'testing/bad-cli.ts': mod(`import { x as c } from '../cli/main.js';`, `export const v = c;`),
      'worker/consumer.test.ts': mod(`import { x as c } from '../cli/main.js';`, `export const v = c;`),
      'transports.ts': mod(`import { x as c } from './cli/main.js';`, `export const v = c;`),
      'index.ts': mod(`import type { T as C } from './cli/main.js';`, `export type V = C;`),
      'cli/main.ts': mod(),
      // the shared Redis layer sits below the adapters: it never reaches up into them
      'redis/bad-broker.ts': mod(`import { x as m } from '../brokers/memory/memory-broker.js';`, `export const v = m;`),
      'redis/bad-backend.ts': mod(
        `import type { T as B } from '../backends/memory/memory-backend.js';`,
        `export type V = B;`,
      ),
      'redis/bad-worker.ts': mod(`import { x as w } from '../worker/consumer.js';`, `export const v = w;`),
      'canvas/bad-redis.ts': mod(`import { x as r } from '../redis/bad-worker.js';`, `export const v = r;`),
      'core/bad-redis.ts': mod(`import type { T as R } from '../redis/bad-worker.js';`, `export type V = R;`),
    });

    const expected = [
      key('errors-imports-nothing', p('errors.ts'), p('protocol/types.ts')),
      key('protocol-only-errors-and-self', p('protocol/bad-value.ts'), p('core/clock.ts')),
      key('protocol-only-errors-and-self', p('protocol/bad-type.ts'), p('core/clock.ts')),
      key('protocol-no-io-builtins', p('protocol/bad-io.ts'), 'fs'),
      key('protocol-no-io-builtins', p('protocol/bad-crypto.ts'), 'crypto'),
      key('core-only-protocol-errors-self', p('core/bad-broker.ts'), p('brokers/memory/memory-broker.ts')),
      key('core-only-protocol-errors-self', p('core/bad-testing.ts'), p('testing/fake-clock.ts')),
      key('core-only-protocol-errors-self', p('core/bad-index.ts'), p('index.ts')),
      key('core-only-protocol-errors-self', p('core/bad-self.ts'), p('index.ts')),
      key('middle-layer-only-below-and-self', p('monitor/bad-self.ts'), p('testing/index.ts')),
      key('no-circular', p('core/cycle-a.ts'), p('core/cycle-b.ts')),
      key('no-circular', p('core/type-cycle-a.ts'), p('core/type-cycle-b.ts')),
      key('no-unresolvable-relative', p('core/bad-unresolved.ts'), './does-not-exist.js'),
      key('adapters-only-below-redis-and-self', p('brokers/redis/bad-worker.ts'), p('worker/consumer.ts')),
      key('adapter-not-to-other-adapter', p('brokers/redis/bad-adapter.ts'), p('brokers/memory/memory-broker.ts')),
      key(
        'adapters-only-below-redis-and-self',
        p('brokers/redis/bad-backend.ts'),
        p('backends/memory/memory-backend.ts'),
      ),
      key(
        'adapter-not-to-other-adapter',
        p('backends/redis/bad-adapter.ts'),
        p('backends/memory/memory-backend.ts'),
      ),
      key('adapters-only-below-redis-and-self', p('backends/redis/bad-canvas.ts'), p('canvas/chain.ts')),
      key('middle-layer-only-below-and-self', p('canvas/bad-worker.ts'), p('worker/consumer.ts')),
      key('middle-layer-only-below-and-self', p('beat/bad-monitor.ts'), p('monitor/state.ts')),
      key('middle-layer-only-below-and-self', p('monitor/bad-cli.ts'), p('cli/main.ts')),
      key('nothing-imports-cli', p('monitor/bad-cli.ts'), p('cli/main.ts')),
      key('worker-no-monitor-cli-edges', p('worker/bad-monitor.ts'), p('monitor/state.ts')),
      key('worker-no-monitor-cli-edges', p('worker/bad-cli.ts'), p('cli/main.ts')),
      key('nothing-imports-cli', p('worker/bad-cli.ts'), p('cli/main.ts')),
      key('worker-no-monitor-cli-edges', p('worker/bad-transports.ts'), p('transports.ts')),
      key('nothing-imports-cli', p('testing/bad-cli.ts'), p('cli/main.ts')),
      key('nothing-imports-cli', p('worker/consumer.test.ts'), p('cli/main.ts')),
      key('nothing-imports-cli', p('transports.ts'), p('cli/main.ts')),
      key('nothing-imports-cli', p('index.ts'), p('cli/main.ts')),
      key('redis-only-protocol-core-errors-self', p('redis/bad-broker.ts'), p('brokers/memory/memory-broker.ts')),
      key('redis-only-protocol-core-errors-self', p('redis/bad-backend.ts'), p('backends/memory/memory-backend.ts')),
      key('redis-only-protocol-core-errors-self', p('redis/bad-worker.ts'), p('worker/consumer.ts')),
      key('middle-layer-only-below-and-self', p('canvas/bad-redis.ts'), p('redis/bad-worker.ts')),
      key('core-only-protocol-errors-self', p('core/bad-redis.ts'), p('redis/bad-worker.ts')),
    ];

    const actual = result.violations.map((v) => key(v.rule.name, v.from, v.to));
    expect(actual.slice().sort()).toEqual(expected.slice().sort());
    expect(result.violations.every((v) => v.rule.severity === 'error')).toBe(true);
    expect(result.lintStatus).not.toBe(0);
  });

  it('fails loudly when the config cannot be loaded', () => {
    const run = spawnSync(process.execPath, [DEPCRUISE, '--config', join(ROOT, 'no-such-config.cjs'), SRC], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(run.status).not.toBe(0);
  });
});

describe('eslint.config.js', () => {
  const sample = [
    `export * from './a.js';`,
    `import { Foo } from './foo.js';`,
    `export const f = (x: any, _y: number): Foo => x;`,
    `const unused = 1;`,
    `const _ignored = 2;`,
    ``,
  ].join('\n');

  async function ruleIds(filePath: string): Promise<string[]> {
    const eslint = new ESLint({ cwd: ROOT });
    const [result] = await eslint.lintText(sample, { filePath: join(ROOT, filePath) });
    return (result?.messages ?? []).map((m) => `${m.line}:${m.ruleId}`).sort();
  }

  it('enforces no export *, no any, type imports and unused vars in library code', async () => {
    expect(await ruleIds('packages/celeriac/src/core/zz-lint-sample.ts')).toEqual([
      '1:no-restricted-syntax',
      '2:@typescript-eslint/consistent-type-imports',
      '3:@typescript-eslint/no-explicit-any',
      '4:@typescript-eslint/no-unused-vars',
    ]);
  });

  it('allows any in tests', async () => {
    expect(await ruleIds('packages/celeriac/src/core/zz-lint-sample.test.ts')).toEqual([
      '1:no-restricted-syntax',
      '2:@typescript-eslint/consistent-type-imports',
      '4:@typescript-eslint/no-unused-vars',
    ]);
    expect(await ruleIds('packages/celeriac/test/zz-lint-sample.ts')).not.toContain(
      '3:@typescript-eslint/no-explicit-any',
    );
  });
});
