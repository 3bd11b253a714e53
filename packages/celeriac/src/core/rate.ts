/**
 * @module core/rate
 * Celery's rate limit strings (`'10/s'`, `'100/m'`, `'1000/h'`, or a bare number meaning per
 * second), parsed once into tasks per second. Pure.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** A rate limit: Celery's string form, or tasks per second as a number. */
export type RateLimit = string | number;

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/**
 * Tasks per second for a rate limit; 0 for `0`, `'0'` and `''` (Celery's "no limit").
 * @throws CeleriacError INVALID_ARGUMENT for anything else that is not `N`, `N/s`, `N/m` or `N/h`.
 */
export function parseRate(limit: RateLimit): number {
  if (typeof limit === 'number') {
    if (Number.isFinite(limit) && limit >= 0) return limit;
  } else if (typeof limit === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(limit);
    if (limit.trim() === '') return 0;
    if (m !== null) return Number(m[1]) / (UNIT_SECONDS[m[2] ?? 's'] as number);
  }
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `rate limit must be like '10/s', '100/m', '1000/h' or a number per second, got ${JSON.stringify(limit)}`);
}
