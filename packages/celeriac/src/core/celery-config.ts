/**
 * @module core/celery-config
 * A Celery configuration, by Celery's names, as Celeriac settings:
 * `createApp({ ...fromCelery({ broker_url: '...', task_acks_late: true, timezone: 'Europe/Paris' }) })`.
 * Each key with an equivalent maps to it (values keep Celery's units: seconds), but a None
 * there (Celery's "not set") leaves Celeriac's default; a key that says what Celeriac already
 * does (`enable_utc: true`, `task_serializer: 'json'`) or gives Celery 5.6's default for a
 * setting Celeriac has no equivalent of is accepted and dropped, so a dump of a whole
 * `app.conf` carries over; every other key is refused, all at once, each with the reason
 * docs/celery-map.md gives. Old upper-case names (`CELERY_TASK_ACKS_LATE`, `BROKER_URL`) are read as the
 * lower-case ones they became in Celery 4.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { CELERY_RENAMED, camel, celeryName, celeryRefusal, isRefusedCeleryName } from './celery-names.js';
import { SETTINGS, type Settings } from './settings.js';

const SETTING_NAMES = new Set(SETTINGS.map((s) => s.name));
/** Settings whose own default is not null: Celery's None for them means "not set". */
const NOT_NULL = new Set(SETTINGS.filter((s) => s.default !== null).map((s) => s.name));
/** Mapped Celery settings whose default, other than None, also means "Celery's choice", not a value. */
const CELERY_UNSET: Readonly<Record<string, unknown>> = { beat_max_loop_interval: 0 };

/**
 * The Celeriac setting of a Celery name, or null. Only snake_case names map: a camelCase key is
 * Celeriac's own and belongs in the settings themselves.
 */
export function settingOfCeleryName(name: string): string | null {
  if (Object.hasOwn(CELERY_RENAMED, name)) return CELERY_RENAMED[name] as string;
  if (!/^[a-z][a-z0-9_]*$/.test(name)) return null;
  const setting = camel(name);
  return SETTING_NAMES.has(setting) ? setting : null;
}

/**
 * Celeriac settings from a Celery configuration given by Celery's names (`task_acks_late`,
 * `broker_url`, `CELERY_TASK_ACKS_LATE`...): `createApp({ ...fromCelery(config), ...yours })`.
 * Values keep Celery's units (seconds). Keys that say what Celeriac does anyway are dropped.
 * @throws CeleriacError CONFIG naming every refused key with its reason, and every key that
 *   is not a Celery setting Celeriac knows.
 */
export function fromCelery(config: Readonly<Record<string, unknown>>): Settings {
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    const name = celeryName(key);
    const setting = settingOfCeleryName(name);
    if (setting !== null) {
      // Not set, as Celery's own defaults say it (a whole `app.conf` carries over): Celeriac's default applies.
      if ((value === null && NOT_NULL.has(setting)) || (Object.hasOwn(CELERY_UNSET, name) && CELERY_UNSET[name] === value)) continue;
      if (Object.hasOwn(settings, setting)) problems.push(`${key}: sets ${setting}, which another key already set`);
      settings[setting] = value;
      continue;
    }
    if (isRefusedCeleryName(name)) {
      const reason = celeryRefusal(name, value);
      if (reason !== null) problems.push(`${key}: ${reason}`);
      continue;
    }
    problems.push(SETTING_NAMES.has(key) ? `${key}: a Celeriac name, not Celery's; put it beside fromCelery(...) instead` : `${key}: not a Celery setting Celeriac knows (docs/celery-map.md lists them)`);
  }
  if (problems.length > 0) {
    throw new CeleriacError(ErrorCodes.CONFIG, `fromCelery: ${problems.length} Celery setting${problems.length === 1 ? '' : 's'} cannot be carried over:\n  ${problems.join('\n  ')}`);
  }
  return settings as Settings;
}
