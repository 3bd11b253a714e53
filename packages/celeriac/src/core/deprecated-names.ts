/**
 * @module core/deprecated-names
 * Names of 0.1 that say no unit (`taskTimeLimit`, a task's `timeLimit`, ...), still read under
 * their name now (`taskTimeLimitSec`, `timeLimitSec`): the value is the same number in the same
 * unit, one DeprecationWarning is printed per name and process, and giving both names is an
 * error. Settings, task options, call options and worker options all rename through here, so
 * they warn and refuse alike (docs/upgrading.md).
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** A deprecated name's name now and the unit both share. */
export interface Renamed {
  /** The name that says its unit. */
  readonly now: string;
  /** The unit of both names, as the warning says it: `seconds`, `milliseconds`, `KiB`. */
  readonly unit: 'seconds' | 'milliseconds' | 'KiB';
}

/** Deprecated names by their name of 0.1. */
export type RenameTable = Readonly<Record<string, Renamed>>;

/** What the names are of, for messages: `setting`, `task option`, `call option`, `worker option`. */
export type NameKind = 'setting' | 'task option' | 'call option' | 'worker option';

/** The Node warning code of each kind. */
const CODES: Readonly<Record<NameKind, string>> = {
  setting: 'CELERIAC_DEP_SETTING',
  'task option': 'CELERIAC_DEP_OPTION',
  'call option': 'CELERIAC_DEP_OPTION',
  'worker option': 'CELERIAC_DEP_OPTION',
};

const warned = new Set<string>();

/**
 * `input` with each deprecated name of `table` replaced by its name now (a shallow copy; `input`
 * itself when it has none). Warns once per name and kind in the process.
 * @throws CeleriacError CONFIG (settings) or INVALID_ARGUMENT (options) when both names are given
 *   (neither undefined).
 */
export function renameDeprecated<T extends object>(input: T, table: RenameTable, kind: NameKind): T {
  // Checked without allocating: every send passes its call options here, nearly always with none of these.
  let any = false;
  for (const old in table) {
    if (Object.hasOwn(input, old)) {
      any = true;
      break;
    }
  }
  if (!any) return input;
  const out = { ...input } as Record<string, unknown>;
  for (const [old, { now, unit }] of Object.entries(table)) {
    if (!Object.hasOwn(out, old)) continue;
    if (out[now] !== undefined && out[old] !== undefined) {
      throw new CeleriacError(kind === 'setting' ? ErrorCodes.CONFIG : ErrorCodes.INVALID_ARGUMENT, `${kind[0]?.toUpperCase()}${kind.slice(1)}s ${old} and ${now} are one ${kind}: give only ${now} (${old} is its deprecated name).`);
    }
    if (out[old] !== undefined) out[now] = out[old];
    delete out[old];
    const key = `${kind}:${old}`;
    if (!warned.has(key)) {
      warned.add(key);
      process.emitWarning(`${kind} ${old} is deprecated: use ${now} (the same number of ${unit}); see docs/upgrading.md`, { type: 'DeprecationWarning', code: CODES[kind] });
    }
  }
  return out as T;
}
