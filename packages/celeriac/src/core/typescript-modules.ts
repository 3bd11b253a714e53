/**
 * @module core/typescript-modules
 * App modules written in TypeScript load through tsx, an optional peer dependency: compiled
 * apps need neither tsx nor esbuild. This names a TypeScript module and the error shown when
 * one must load and tsx is not installed (the CLI's `-A`, the threads pool).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** True for the path or URL of a TypeScript module (`.ts`, `.mts`, `.cts`, `.tsx`). */
export function isTypeScriptModule(pathOrUrl: string): boolean {
  return /\.[mc]?tsx?$/i.test(pathOrUrl.replace(/[?#].*$/, ''));
}

/** The APP_LOAD error for a TypeScript module that cannot load without tsx. */
export function tsxMissingError(module: string, cause?: unknown): CeleriacError {
  return new CeleriacError(
    ErrorCodes.APP_LOAD,
    `Cannot load ${module}: TypeScript modules load through tsx, which is not installed. ` +
      'Install it (npm install --save-dev tsx) or compile the app and point to the .js file.',
    { cause },
  );
}

let tsxUrl: string | undefined;

/**
 * URL of tsx's ESM register API, found through tsx's own package exports, for a thread or
 * process that must load TypeScript (hooks registered here do not reach a new thread, and a
 * new process has none). Throws APP_LOAD naming `module` when tsx is not installed.
 */
export function tsxRegisterUrl(module: string): string {
  if (tsxUrl === undefined) {
    let manifest: string;
    try {
      manifest = createRequire(import.meta.url).resolve('tsx/package.json');
    } catch (err) {
      throw tsxMissingError(module, err);
    }
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
    tsxUrl = new URL(pkg.exports['./esm/api']!.import.default, pathToFileURL(manifest)).href;
  }
  return tsxUrl;
}
