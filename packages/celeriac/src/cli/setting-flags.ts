/**
 * @module cli/setting-flags
 * The flags of `worker` and `beat` that set a setting (`-c`, `-P`, `--time-limit`,
 * `--max-interval`, ...). They are declared in the settings table (core/settings.ts), so a
 * flag's type, check, default and help come from the same row as the setting's.
 */
import { Option, type Command } from 'commander';
import { SETTINGS, parseSettingText, settingProblem, type SettingCommand, type SettingSpec, type Settings } from '../core/settings.js';
import { UsageError } from './io.js';

/** A row's flag, and the hidden flag of 0.1 it replaced (if any). */
interface FlagRow {
  readonly spec: SettingSpec;
  readonly option: Option;
  readonly before: Option | null;
}

/** The rows with a flag on `command`, by commander's attribute name of the flag. */
function flagRows(command: SettingCommand): Map<string, FlagRow> {
  const rows = new Map<string, FlagRow>();
  for (const spec of SETTINGS) {
    if (spec.cli === undefined || !spec.cli.commands.includes(command)) continue;
    const shown = typeof spec.default === 'string' ? spec.default : JSON.stringify(spec.default);
    const option = new Option(spec.cli.flags, `${spec.cli.help} (default: setting ${spec.name}, ${shown})`);
    const before = spec.cli.before === undefined ? null : new Option(`${spec.cli.before} <value>`, `deprecated name of ${option.long ?? option.flags}`).hideHelp();
    rows.set(option.attributeName(), { spec, option, before });
  }
  return rows;
}

/** Declares on `program` the flags the settings table gives `command`. */
export function addSettingFlags(program: Command, command: SettingCommand): Command {
  for (const { option, before } of flagRows(command).values()) {
    program.addOption(option);
    if (before !== null) program.addOption(before);
  }
  return program;
}

const warned = new Set<string>();

/** The value of a row's flag, or of its flag of 0.1 (warned once per process through `warn`). */
function flagValue(row: FlagRow, flags: Readonly<Record<string, unknown>>, warn: (text: string) => void): { value: unknown; flag: string } {
  const now = row.option.long ?? row.option.flags;
  const value = flags[row.option.attributeName()];
  const old = row.before === null ? undefined : flags[row.before.attributeName()];
  if (row.before === null || old === undefined) return { value, flag: now };
  const before = row.before.long as string;
  if (value !== undefined) throw new UsageError(`${before} and ${now} are one option: give only ${now} (${before} is its deprecated name)`);
  if (!warned.has(before)) warn(`warning: ${before} is deprecated: use ${now} (the same number of seconds); see docs/upgrading.md\n`);
  warned.add(before);
  return { value: old, flag: before };
}

/**
 * The settings the given flags set, parsed and checked as the table says. A bad value is a
 * UsageError naming the flag and the setting; a flag of 0.1 is read with a warning through `warn`.
 */
export function settingsFromFlags(command: SettingCommand, flags: Readonly<Record<string, unknown>>, warn: (text: string) => void = () => {}): Settings {
  const settings: Record<string, unknown> = {};
  for (const row of flagRows(command).values()) {
    const { spec } = row;
    const { value: given, flag } = flagValue(row, flags, warn);
    if (given === undefined) continue;
    const fail = (problem: string) => new UsageError(`${flag} ${JSON.stringify(given)}: ${problem} (setting ${spec.name})`);
    let value: unknown;
    try {
      value = typeof given === 'string' ? parseSettingText(spec, given) : given;
    } catch (err) {
      throw fail((err as Error).message);
    }
    const problem = settingProblem(spec, value);
    if (problem !== null) throw fail(problem);
    settings[spec.name] = value;
  }
  return settings as Settings;
}
