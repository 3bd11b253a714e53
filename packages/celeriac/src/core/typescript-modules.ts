/**
 * @module core/typescript-modules
 * App modules written in TypeScript load through tsx, an optional peer dependency: compiled
 * apps need neither tsx nor esbuild. This names a TypeScript module and the error shown when
 * one must load and tsx is not installed (the CLI's `-A`, the threads pool).
 */
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
