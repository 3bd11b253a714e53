import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { distPattern, distTwin, isBuilt, useDist } from './test-dist.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A package with src/a.ts, src/s.lua, src/a.test.ts and, when `built`, their dist/ twins and build info. */
function pkg(built = true): string {
  const root = mkdtempSync(join(tmpdir(), 'celeriac-test-dist-'));
  dirs.push(root);
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'a.ts'), 'export const a = 1;');
  writeFileSync(join(root, 'src', 'a.test.ts'), '');
  writeFileSync(join(root, 'src', 's.lua'), 'return 1');
  if (built) {
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', 'a.js'), 'export const a = 1;');
    writeFileSync(join(root, 'dist', 's.lua'), 'return 1');
    writeFileSync(join(root, 'dist', '.tsbuildinfo'), '{}');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'src', 'a.ts'), past, past);
  }
  return root;
}

describe('isBuilt', () => {
  it('is true only when every library file has a compiled twin newer than itself and the Lua scripts match', () => {
    const p = pkg();
    expect(isBuilt(p)).toBe(true);
    const future = new Date(Date.now() + 60_000);
    writeFileSync(join(p, 'src', 'a.test.ts'), '// a test file changed: dist/ has none of it');
    utimesSync(join(p, 'src', 'a.test.ts'), future, future);
    expect(isBuilt(p)).toBe(true);
    utimesSync(join(p, 'src', 'a.ts'), future, future);
    expect(isBuilt(p)).toBe(false);
  });

  it('is false after a type check rewrote the build info but emitted nothing (tsc --noEmit)', () => {
    const p = pkg();
    const future = new Date(Date.now() + 60_000);
    const later = new Date(Date.now() + 120_000);
    utimesSync(join(p, 'src', 'a.ts'), future, future);
    utimesSync(join(p, 'dist', '.tsbuildinfo'), later, later);
    expect(isBuilt(p)).toBe(false);
    // Emitted again after the edit: current.
    utimesSync(join(p, 'dist', 'a.js'), later, later);
    expect(isBuilt(p)).toBe(true);
  });

  it('is false when a library file has no compiled twin', () => {
    const p = pkg();
    const past = new Date(Date.now() - 60_000);
    writeFileSync(join(p, 'src', 'b.ts'), 'export const b = 2;');
    utimesSync(join(p, 'src', 'b.ts'), past, past);
    expect(isBuilt(p)).toBe(false);
  });

  it('is false with no dist/, or with a Lua script that differs from its source', () => {
    expect(isBuilt(pkg(false))).toBe(false);
    const p = pkg();
    writeFileSync(join(p, 'src', 's.lua'), 'return 2');
    expect(isBuilt(p)).toBe(false);
  });
});

describe('useDist', () => {
  it('only for `vitest run` on a current tree, unless CELERIAC_TEST_FROM=src', () => {
    const p = pkg();
    expect(useDist([p], ['node', 'vitest', 'run'], {})).toBe(true);
    expect(useDist([p], ['node', 'vitest'], {})).toBe(false);
    expect(useDist([p], ['node', 'vitest', 'run'], { CELERIAC_TEST_FROM: 'src' })).toBe(false);
    expect(useDist([p, pkg(false)], ['node', 'vitest', 'run'], {})).toBe(false);
  });
});

describe('distTwin', () => {
  it('maps a compiled library module to dist/, never a test file or a file dist/ lacks', () => {
    const p = pkg();
    expect(distTwin([p], join(p, 'src', 'a.ts'))).toBe(join(p, 'dist', 'a.js'));
    expect(distTwin([p], join(p, 'src', 'a.test.ts'))).toBeUndefined();
    expect(distTwin([p], join(p, 'src', 'missing.ts'))).toBeUndefined();
    expect(distTwin([p], join(p, 'test', 'a.ts'))).toBeUndefined();
  });

  it('the external pattern matches dist/ and nothing beside it', () => {
    const p = pkg();
    expect(distPattern([p]).test(join(p, 'dist', 'a.js'))).toBe(true);
    expect(distPattern([p]).test(join(p, 'src', 'a.ts'))).toBe(false);
    expect(distPattern([p]).test(`${p}/distant/a.js`)).toBe(false);
  });
});
