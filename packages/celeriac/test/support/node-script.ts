/**
 * How a test starts a TypeScript fixture in a child process. `node --import tsx` costs a
 * child about half a CPU second and seconds of wall time on a loaded machine (the loader
 * transpiles every module of src/ it imports). When dist/ is current (`npm run build`, or
 * `tsc -b` of the type check, has run since the last change in src/), the fixture itself is
 * transpiled here once per test file (esbuild, as tsx does) with its imports of src/ pointed
 * at dist/, and the child runs it with plain node. When dist/ is missing or older than src/,
 * the child runs the fixture with tsx from source, as before: never stale code.
 *
 * Pool children (threads, prefork) of a worker that runs from source boot child-main.ts
 * through tsx, as spawn-child.ts decides from its own URL: a test file of pools replaces that
 * module with its dist/ twin when current ({@link compiledSpawnChild}), so its children run
 * dist/ with plain node as a built app's would.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformSync } from 'esbuild';
import { isBuilt } from '../../../../scripts/test-dist.ts';
import type * as SpawnChild from '../../src/worker/pools/spawn-child.js';

const PACKAGE = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(PACKAGE, 'src');
const DIST = join(PACKAGE, 'dist');
/** The repository root, where `npm run build` runs. */
const ROOT = join(PACKAGE, '..', '..');
/** The dashboard package, which `celeriac flower` loads from its dist/. */
const DASHBOARD = join(ROOT, 'packages', 'dashboard');
/** Inside the package, so the compiled fixture resolves its packages (pino, redis) as the source does. */
const CACHE = join(PACKAGE, 'node_modules', '.cache', 'celeriac-test-fixtures');

let distCurrent: boolean | undefined;

/** True when celeriac's dist/ is current (the fixtures below import only celeriac). */
function isDistCurrent(): boolean {
  return (distCurrent ??= isBuilt(PACKAGE));
}

/**
 * Runs `npm run build` when dist/ is not current (the rule above), so a test of the bin (which
 * loads dist/, and `celeriac flower` the dashboard's dist/) never runs stale code, and skips it
 * when both are current, as in CI after `npm ci`.
 */
export function buildDistIfStale(): void {
  if (isDistCurrent() && isBuilt(DASHBOARD)) return;
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
  distCurrent = undefined;
}

/** Writes `text` under the cache with a name from its content (atomic: files may run at once). */
function cached(name: string, text: string): string {
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = join(CACHE, `${name}-${hash}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  return file;
}

/** Transpiles `file` and the fixtures it imports relatively (outside src/), src/ imports pointing at dist/. */
function compile(file: string, done: Map<string, string>): string {
  const known = done.get(file);
  if (known !== undefined) return known;
  const source = readFileSync(file, 'utf8');
  let { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'node20', sourcefile: file });
  code = code.replace(/(from\s*|import\s*\(\s*|import\s+)(['"])(\.{1,2}\/[^'"]+)\2/g, (whole, lead: string, quote: string, spec: string) => {
    const target = join(dirname(file), spec);
    if (target.startsWith(SRC)) return `${lead}${quote}${pathToFileURL(join(DIST, relative(SRC, target))).href}${quote}`;
    const ts = target.replace(/\.js$/, '.ts');
    if (!existsSync(ts)) return whole;
    return `${lead}${quote}${pathToFileURL(compile(ts, done)).href}${quote}`;
  });
  const out = cached(basename(file, '.ts'), code);
  done.set(file, out);
  return out;
}

const compiled = new Map<string, string>();

/** The module `file` (an absolute .ts path) compiled against dist/, or undefined when dist/ is not current. */
export function compiledModule(file: string): string | undefined {
  return isDistCurrent() ? compile(file, compiled) : undefined;
}

/**
 * URL of the library module at `path` under src/ (`'brokers/redis/redis-broker.ts'`), for a
 * child's `-e` code to import: dist/'s .js when current, else the source, which needs
 * {@link libraryLoaderArgs}.
 */
export function libraryModuleUrl(path: string): string {
  return pathToFileURL(isDistCurrent() ? join(DIST, path.replace(/\.ts$/, '.js')) : join(SRC, path)).href;
}

/** Node flags for a child that imports {@link libraryModuleUrl}s: tsx only when they are the sources. */
export function libraryLoaderArgs(): string[] {
  return isDistCurrent() ? [] : ['--import', 'tsx'];
}

/** The fixture module at `url` (a .ts file URL) compiled against dist/ when current, else `url` itself: an app module for pool children. */
export function fixtureModule(url: URL): string | URL {
  return compiledModule(fileURLToPath(url)) ?? url;
}

/** Node arguments that run the TypeScript module `file` (an absolute path): from dist/ when current, else with tsx. */
export function nodeScriptArgs(file: string): string[] {
  return [...(isDistCurrent() ? [] : ['--import', 'tsx']), compiledModule(file) ?? file];
}

/** dist/'s spawn-child module, the one a built worker uses, as test files mock src/'s with. */
type SpawnChildModule = typeof SpawnChild;

/**
 * The pool children's spawn module of dist/ when dist/ is current, else undefined. Its
 * children boot dist/'s child-main.js with plain node (tsx only for a TypeScript app
 * module): half a CPU second less per child process, a fifth per thread. For
 * `vi.mock('.../src/worker/pools/spawn-child.js', ...)` in a test file whose workers load a
 * {@link compiledModule} app; the pool, from src/, speaks the same protocol as dist/ is current.
 */
export async function compiledSpawnChild(): Promise<SpawnChildModule | undefined> {
  if (!isDistCurrent()) return undefined;
  return (await import(pathToFileURL(join(DIST, 'worker', 'pools', 'spawn-child.js')).href)) as SpawnChildModule;
}
