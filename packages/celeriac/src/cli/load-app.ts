/**
 * @module cli/load-app
 * `-A <module>` or `-A <module>:<attr>`: imports a .ts or .js module (TypeScript through tsx,
 * which the bin registers, when installed, just before a .ts module loads) and finds its app:
 * the export `attr` names (a dotted path reaches into an object), else the `app` export, else
 * the default export.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from '../core/app.js';
import { pickExport, splitAppSpec } from '../core/app-export.js';
import { isTypeScriptModule, tsxMissingError } from '../core/typescript-modules.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

function looksLikeApp(value: unknown): value is App {
  // An app of another copy of the package (a tsconfig `paths` alias) is one too: App's brand.
  return value instanceof App;
}

/** The module file of `-A` (the part before `:attr`), resolved as {@link resolveModulePath} does. */
export function resolveAppPath(spec: string, cwd: string): string {
  return resolveModulePath(parseAppSpec(spec, cwd).module, cwd);
}

/** Splits `-A` into module and export; a spec that names an existing file is all module. */
export function parseAppSpec(spec: string, cwd: string): { module: string; attr: string | null } {
  const split = splitAppSpec(spec);
  if (split.attr === null || existsSync(isAbsolute(spec) ? spec : resolve(cwd, spec))) return { module: spec, attr: null };
  return split;
}

/** Resolves `spec` against `cwd`, trying the extensions and index files a user may leave out. */
function resolveModulePath(spec: string, cwd: string): string {
  const base = isAbsolute(spec) ? spec : resolve(cwd, spec);
  const candidates = [base, `${base}.ts`, `${base}.js`, `${base}.mts`, `${base}.mjs`, resolve(base, 'index.ts'), resolve(base, 'index.js')];
  const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (found === undefined) throw new CeleriacError(ErrorCodes.APP_LOAD, `Cannot find app module ${JSON.stringify(spec)} (looked in ${cwd})`);
  return found;
}

/** Imports the module and returns its app. */
export async function loadApp(spec: string, cwd: string = process.cwd(), beforeTypeScript?: () => Promise<void>): Promise<App> {
  const { module, attr } = parseAppSpec(spec, cwd);
  const path = resolveModulePath(module, cwd);
  if (isTypeScriptModule(path)) await beforeTypeScript?.();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    // Node itself does not load .ts (before 22.18/23.6): tsx, registered by the bin, does.
    if ((err as { code?: unknown } | null)?.code === 'ERR_UNKNOWN_FILE_EXTENSION' && isTypeScriptModule(path)) throw tsxMissingError(path, err);
    throw new CeleriacError(ErrorCodes.APP_LOAD, `Failed to load app module ${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  const candidate = attr === null ? (mod.app ?? mod.default) : pickExport(mod, attr);
  if (!looksLikeApp(candidate)) {
    const names = Object.keys(mod).join(', ') || 'nothing';
    const where = attr === null ? 'export it as `app` or as the default export' : `its export \`${attr}\` is ${candidate === undefined ? 'missing' : 'not an app'}`;
    throw new CeleriacError(ErrorCodes.APP_LOAD, `Module ${path} exports no app: ${where} (it exports ${names})`);
  }
  return candidate;
}
