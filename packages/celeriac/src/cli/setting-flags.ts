/**
 * @module cli/setting-flags
 * The flags of `worker` and `beat` that set a setting (`-c`, `-P`, `--time-limit`,
 * `--max-interval`, ...). They are declared in the settings table (core/settings.ts), so a
 * flag's type, check, default and help come from the same row as the setting's.
 */
import { Option, type Command } from 'commander';
import { SETTINGS, parseSettingText, settingProblem, type SettingCommand, type SettingSpec, type Settings } from '../core/settings.js';
import { UsageError } from './io.js';

/** The rows with a flag on `command`, by commander's attribute name of the flag. */
function flagRows(command: SettingCommand): Map<string, { spec: SettingSpec; option: Option }> {
  const rows = new Map<string, { spec: SettingSpec; option: Option }>();
  for (const spec of SETTINGS) {
    if (spec.cli === undefined || !spec.cli.commands.includes(command)) continue;
    const shown = typeof spec.default === 'string' ? spec.default : JSON.stringify(spec.default);
    const option = new Option(spec.cli.flags, `${spec.cli.help} (default: setting ${spec.name}, ${shown})`);
    rows.set(option.attributeName(), { spec, option });
  }
  return rows;
}

/** Declares on `program` the flags the settings table gives `command`. */
export function addSettingFlags(program: Command, command: SettingCommand): Command {
  for (const { option } of flagRows(command).values()) program.addOption(option);
  return program;
}

/**
 * The settings the given flags set, parsed and checked as the table says. A bad value is a
 * UsageError naming the flag and the setting.
 */
export function settingsFromFlags(command: SettingCommand, flags: Readonly<Record<string, unknown>>): Settings {
  const settings: Record<string, unknown> = {};
  for (const [attribute, { spec, option }] of flagRows(command)) {
    const given = flags[attribute];
    if (given === undefined) continue;
    const fail = (problem: string) => new UsageError(`${option.long ?? option.flags} ${JSON.stringify(given)}: ${problem} (setting ${spec.name})`);
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
