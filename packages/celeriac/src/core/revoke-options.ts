/**
 * @module core/revoke-options
 * A revoke's options as a caller gives them (`AsyncResult.revoke`, `GroupResult.revoke`),
 * checked before anything is stored or broadcast, and the signal names a revoke carries.
 */
import { constants } from 'node:os';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { objectOrNone } from './option-names.js';

/** A signal given by name (`'TERM'`, `'SIGKILL'`) or number, as its full name (`'SIGTERM'`). */
export function signalName(signal: string | number | undefined): string {
  if (signal === undefined) return 'SIGTERM';
  const table = constants.signals as Record<string, number>;
  if (typeof signal === 'number' || /^\d+$/.test(signal)) {
    const n = Number(signal);
    const name = Object.keys(table).find((k) => table[k] === n);
    if (name !== undefined) return name;
  } else {
    const upper = signal.toUpperCase();
    const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
    if (table[name] !== undefined) return name;
  }
  throw new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `unknown signal ${JSON.stringify(signal)}`);
}

/** What a caller may give `revoke()`. */
export interface RevokeCallOptions {
  /** Also stop the task where it runs now. @default false */
  terminate?: boolean;
  /** The signal that stops it, by name or number. @default 'SIGTERM' */
  signal?: string;
}

/**
 * A revoke's options, checked: undefined or null is none; anything but an object, a
 * `terminate` that is not a boolean, or a signal no worker knows is refused (a worker told to
 * terminate with `SIGFOO` could not), and the signal is given its full name (`SIGKILL`).
 * @throws CeleriacError INVALID_ARGUMENT saying what was wrong.
 */
export function revokeCallOptions(options: RevokeCallOptions | null | undefined): RevokeCallOptions {
  const given = objectOrNone(options, 'revoke(): the options');
  const fail = (what: string): CeleriacError => new CeleriacError(ErrorCodes.INVALID_ARGUMENT, `revoke(): ${what}`);
  const { terminate, signal } = given as { terminate?: unknown; signal?: unknown };
  if (terminate !== undefined && typeof terminate !== 'boolean') throw fail(`terminate must be true or false, got ${JSON.stringify(terminate) ?? String(terminate)}`);
  const out: RevokeCallOptions = {};
  if (terminate !== undefined) out.terminate = terminate;
  if (signal !== undefined) {
    if (typeof signal !== 'string' && typeof signal !== 'number') throw fail(`signal must be a signal's name or number, got ${typeof signal}`);
    try {
      out.signal = signalName(signal);
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  return out;
}
