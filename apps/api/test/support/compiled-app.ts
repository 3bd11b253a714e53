/**
 * The reference app compiled to JavaScript for tests that start `main.ts` in a child process
 * but are not about loading TypeScript (main.test.ts's `all` start covers `npm start`'s
 * `node --import tsx src/main.ts`). Through tsx a child pays for tsx's loader thread and
 * transpiles the app's ~40 modules before its first line: about 1.1 of 2.2 CPU-seconds per
 * start (`node --import tsx src/main.ts gardener`, which only prints its usage). celeriac and
 * the dashboard load from their dist/ either way (the test files build it when stale).
 *
 * Each call transpiles src/ (esbuild, as tsx does, module by module: relative imports keep
 * their `.js` names) into a fresh directory under apps/api/node_modules/.cache, beside src/'s
 * packages so imports resolve as from src/, static assets copied; never shared between test
 * files, so never stale. The app then finds its default DATA_DIR beside that copy, not in
 * apps/api: tests give one.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const APP = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(APP, 'src');
const CACHE = join(APP, 'node_modules', '.cache');

/** The app compiled once: how to run its entry point, and how to remove it. */
export interface CompiledApp {
  /** Node arguments that run `main.ts` compiled (append the role). */
  readonly mainArgs: readonly string[];
  /** Removes the compiled copy. */
  dispose(): void;
}

/** Transpiles apps/api/src (not its tests) into a directory of its own. */
export function compileApp(): CompiledApp {
  mkdirSync(CACHE, { recursive: true });
  const root = mkdtempSync(join(CACHE, 'celeriac-app-js-'));
  const out = join(root, 'src');
  for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const target = join(out, relative(SRC, file));
    mkdirSync(dirname(target), { recursive: true });
    if (!entry.name.endsWith('.ts')) cpSync(file, target);
    else if (!entry.name.endsWith('.test.ts')) {
      const { code } = transformSync(readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: file });
      writeFileSync(target.replace(/\.ts$/, '.js'), code);
    }
  }
  return { mainArgs: [join(out, 'main.js')], dispose: () => rmSync(root, { recursive: true, force: true }) };
}
