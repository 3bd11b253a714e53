/** The beat schedule: heartbeat every HEARTBEAT_EVERY s, overdue check hourly, cleanup at 02:00 in the app's zone. */
import { slotAfter, type Schedule } from 'celeriac/beat';
import { describe, expect, it } from 'vitest';
import { beatSchedule } from './runtime.js';
import { loadSettings } from './settings.js';

describe('beat schedule', () => {
  const s = loadSettings({ APP_TIMEZONE: 'Europe/Berlin', HEARTBEAT_EVERY: '30' });
  const entries = beatSchedule(s);
  const next = (name: keyof typeof entries, fromIso: string) =>
    new Date(slotAfter(entries[name].schedule as Schedule, Date.parse(fromIso), { timezone: s.timezone })).toISOString();

  it('sends the heartbeat every 30 seconds', () => {
    expect(entries['maintenance-heartbeat'].task).toBe('maintenance.heartbeat');
    expect(next('maintenance-heartbeat', '2026-03-01T10:00:00.000Z')).toBe('2026-03-01T10:00:30.000Z');
  });

  it('checks overdue todos at the top of every hour', () => {
    expect(entries['todos-check-overdue'].task).toBe('todos.check_overdue');
    expect(next('todos-check-overdue', '2026-03-01T10:15:00.000Z')).toBe('2026-03-01T11:00:00.000Z');
  });

  it('cleans up at 02:00 Berlin time, in winter and in summer', () => {
    expect(entries['todos-daily-cleanup'].task).toBe('todos.daily_cleanup');
    expect(next('todos-daily-cleanup', '2026-01-15T12:00:00.000Z')).toBe('2026-01-16T01:00:00.000Z');
    expect(next('todos-daily-cleanup', '2026-07-15T12:00:00.000Z')).toBe('2026-07-16T00:00:00.000Z');
  });
});
