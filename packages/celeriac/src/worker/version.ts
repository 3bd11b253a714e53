/**
 * @module worker/version
 * The Celeriac version a worker reports (banner, `sw_ver` in worker events, `report`). Its
 * own module so event and control code can read it without importing the banner (which
 * imports the worker).
 */
import { createRequire } from 'node:module';

/**
 * Version reported by workers: the package's own version, read from its package.json (two
 * levels up from both src/worker and dist/worker), so a release bumps one place.
 */
export const CELERIAC_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
