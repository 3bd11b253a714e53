/**
 * @module worker/version
 * The Celeriac version a worker reports (banner, `sw_ver` in worker events, `report`). Its
 * own module so event and control code can read it without importing the banner (which
 * imports the worker).
 */

/** Version reported by workers. */
export const CELERIAC_VERSION = '0.1.0';
