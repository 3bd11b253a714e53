/**
 * Tests run the library's compiled dist/ when it is current (vitest.config.ts).
 *
 * A test file that imports packages/celeriac/src through vitest's module runner has every
 * module of the library transformed by vite and evaluated by the runner, again in every
 * isolated test file: that was most of the suite's CPU time (vitest's "import" figure). The
 * same modules compiled by `tsc -b` (which `npm test` runs first) load natively by Node in a
 * fraction of that. So when both packages' dist/ is current, {@link distPlugin} resolves every
 * import of a library module under `packages/<pkg>/src/` to its twin under `dist/`, and
 * vitest.config.ts externalizes dist/ (Node imports it, not the runner). Every import of a
 * library module goes the same way, so each module is loaded once, from one place (a class
 * loaded from both src/ and dist/ would break `instanceof`). Test files still go through
 * vite; their imports of the library land on dist/ like any other.
 *
 * Current means what it means for child processes (test/support/node-script.ts): every
 * library file of src/ has its compiled twin in dist/, written after it, and every Lua script
 * in dist/ equals its source. A plain `npx vitest run` on an edited tree therefore runs the
 * sources, never stale code; so does watch mode (files change under it) and
 * `CELERIAC_TEST_FROM=src`. The build info's time is no proof: `tsc -p <pkg> --noEmit` (a type
 * check) rewrites it and emits nothing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Plugin } from 'vite';

/** Files under src/ that `tsc -b` does not compile (the packages' tsconfig `exclude`): tests (their helpers live in test/). */
const NOT_COMPILED = /\.test\.ts$/;

/**
 * True when every library file of `pkg`/src has a compiled twin in dist/ written after it, and
 * every Lua script is in dist/ as it is in src/. Test files, which the build does not compile,
 * do not count: `tsc -b` would not rebuild for them, so an edit of one would leave dist/
 * "stale" until the next change of a library file.
 */
export function isBuilt(pkg: string): boolean {
  const src = join(pkg, 'src');
  const dist = join(pkg, 'dist');
  if (!existsSync(join(dist, '.tsbuildinfo'))) return false;
  for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if (entry.name.endsWith('.lua')) {
      const built = join(dist, relative(src, file));
      if (!existsSync(built) || !readFileSync(built).equals(readFileSync(file))) return false;
    } else if (entry.name.endsWith('.ts') && !NOT_COMPILED.test(entry.name) && !entry.name.endsWith('.d.ts')) {
      const twin = join(dist, relative(src, file)).replace(/\.ts$/, '.js');
      if (!existsSync(twin) || statSync(file).mtimeMs > statSync(twin).mtimeMs) return false;
    }
  }
  return true;
}

/**
 * Whether this vitest run loads the packages from dist/: `vitest run` (not watch mode), dist/
 * current for every package, and not `CELERIAC_TEST_FROM=src`.
 */
export function useDist(packages: readonly string[], argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): boolean {
  const from = env['CELERIAC_TEST_FROM'];
  if (from === 'src') return false;
  const runOnce = argv.includes('run') || argv.includes('--run') || argv.includes('list');
  if (!runOnce) return false;
  return packages.every(isBuilt);
}

/** The dist/ twin of `file` when it is a compiled library module of one of `packages`, else undefined. */
export function distTwin(packages: readonly string[], file: string): string | undefined {
  if (!file.endsWith('.ts') || NOT_COMPILED.test(file) || file.endsWith('.d.ts')) return undefined;
  for (const pkg of packages) {
    const src = join(pkg, 'src') + sep;
    if (!file.startsWith(src)) continue;
    const twin = join(pkg, 'dist', file.slice(src.length).replace(/\.ts$/, '.js'));
    return existsSync(twin) ? twin : undefined;
  }
  return undefined;
}

/** The dist/ folders of `packages`, as a pattern for vitest's `server.deps.external`. */
export function distPattern(packages: readonly string[]): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^(${packages.map((p) => escape(join(p, 'dist') + sep)).join('|')})`);
}

/** A vite plugin that resolves imports of the packages' library modules under src/ to dist/. */
export function distPlugin(packages: readonly string[]): Plugin {
  return {
    name: 'celeriac:test-dist',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (importer === undefined) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (resolved === null || resolved.external) return resolved;
      const twin = distTwin(packages, resolved.id.split('?')[0]!);
      return twin === undefined ? resolved : { id: twin, external: false };
    },
  };
}
