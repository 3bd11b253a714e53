/**
 * The shape of the shipped sources (issue 46): nothing in packages/<pkg>/src exists only for
 * tests (test helpers live in test/support/; only the conformance suites of
 * packages/celeriac/src/testing/, which the package exports, import vitest); and the layers
 * that call each other (the src root's edge modules, core, canvas) do not give two modules
 * with different jobs one name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC_DIRS = ['packages/celeriac/src', 'packages/dashboard/src'];

/** Shipped source files: every .ts under src but tests and declarations. */
function shipped(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return shipped(path);
    return /\.(ts|mts)$/.test(e.name) && !/\.(test|spec)\.ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [relative(ROOT, path).split('\\').join('/')] : [];
  });
}

const FILES = SRC_DIRS.flatMap((d) => shipped(join(ROOT, d)));

describe('shipped sources', () => {
  it('hold no test-only module: none imports vitest but the exported conformance suites', () => {
    const testOnly = FILES.filter((f) => !f.startsWith('packages/celeriac/src/testing/') && /from ['"]vitest['"]/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(testOnly).toEqual([]);
    expect(FILES.filter((f) => /test-env|test-support|fixtures?\//.test(f))).toEqual([]);
  });

  it('give no name to two modules of the src root, core/ and canvas/ (a name says its job)', () => {
    const names = new Map<string, string[]>();
    for (const f of FILES) {
      const m = /^packages\/celeriac\/src\/((?:core\/|canvas\/)?)([^/]+)$/.exec(f);
      if (m === null) continue;
      names.set(m[2]!, [...(names.get(m[2]!) ?? []), f]);
    }
    expect([...names.values()].filter((fs) => fs.length > 1)).toEqual([]);
  });

  it('keep every module under MAX_LINES lines', () => {
    const over = FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
    expect(over).toEqual([]);
  });
});

/** The most lines a shipped module has (issue 46). */
const MAX_LINES = 450;
