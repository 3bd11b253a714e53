/**
 * The settings table itself, for tools: every setting's type, default, environment variables,
 * command-line flag and doc (docs/configuration.md is generated from it), and the resolver
 * `createApp` uses. The `Settings` types are in the root.
 *
 * @module celeriac/settings
 */
export { SETTINGS, parseSettingText, resolveSettings, settingProblem } from '../core/settings.js';
export type { SettingCommand, SettingFlag, SettingSpec, SettingType } from '../core/settings.js';
