/**
 * @module core/set-aside
 * What every broker's set-aside store shares: how a record is named (its id) and how big the
 * store may grow. The store keeps whole envelopes (malformed messages and dead letters), so
 * it is bounded by count and by bytes; past either bound the oldest records are dropped, each
 * drop logged by the broker.
 */
import { createHash } from 'node:crypto';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** Most records kept by default. */
export const DEFAULT_SET_ASIDE_MAX_COUNT = 10_000;
/** Most bytes of records kept by default (64 MiB). */
export const DEFAULT_SET_ASIDE_MAX_BYTES = 64 * 1024 * 1024;

/** The bounds of a set-aside store. */
export interface SetAsideLimits {
  /** Most records kept. @default 10000 */
  readonly maxCount: number;
  /** Most bytes of stored records (UTF-8 length of each record's text). @default 67108864 */
  readonly maxBytes: number;
}

/** Checks and fills in the bounds. @throws CeleriacError CONFIG on a bad value. */
export function resolveSetAsideLimits(over: { setAsideMaxCount?: number; setAsideMaxBytes?: number }, who: string): SetAsideLimits {
  const check = (name: string, v: number): number => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new CeleriacError(ErrorCodes.CONFIG, `${who}: ${name} must be a positive integer, got ${String(v)}`);
    return v;
  };
  return Object.freeze({
    maxCount: check('setAsideMaxCount', over.setAsideMaxCount ?? DEFAULT_SET_ASIDE_MAX_COUNT),
    maxBytes: check('setAsideMaxBytes', over.setAsideMaxBytes ?? DEFAULT_SET_ASIDE_MAX_BYTES),
  });
}

/**
 * The id of a stored record: the first 16 hex digits of the SHA-1 of its stored text (the
 * Redis scripts compute the same with `redis.sha1hex`).
 */
export function setAsideId(storedText: string): string {
  return createHash('sha1').update(storedText, 'utf8').digest('hex').slice(0, 16);
}
