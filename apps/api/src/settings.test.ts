/** Settings: defaults, the .env file under the environment, and every bad value reported at once. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appEnvironment, loadSettings, redact, SettingsError } from './settings.js';

describe('settings', () => {
  it('defaults to the embedded everything', () => {
    const s = loadSettings({});
    expect(s).toMatchObject({ brokerUrl: 'memory://', resultBackend: 'memory://', redisUrl: null, databaseUrl: null, apiPort: 8000, taskAllowList: ['demo.*'], timezone: 'UTC', seedDemoData: true });
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('uses a Redis broker as the result backend unless one is named', () => {
    expect(loadSettings({ CELERY_BROKER_URL: 'redis://r:6379/0' }).resultBackend).toBe('redis://r:6379/0');
    expect(loadSettings({ CELERY_BROKER_URL: 'amqp://mq', CELERY_RESULT_BACKEND: 'rpc://' }).resultBackend).toBe('rpc://');
  });

  it("takes kombu's Sentinel URLs, which name several hosts, for broker and backend", () => {
    const sentinels = 'sentinel://:pw@s1:26379;sentinel://:pw@s2:26379/0';
    expect(loadSettings({ CELERY_BROKER_URL: sentinels })).toMatchObject({ brokerUrl: sentinels, resultBackend: sentinels });
    const one = 'redis+sentinel://s1:26379,s2:26379/mymaster/1';
    expect(loadSettings({ CELERY_BROKER_URL: 'amqp://mq', CELERY_RESULT_BACKEND: one }).resultBackend).toBe(one);
    expect(() => loadSettings({ CELERY_BROKER_URL: 'sentinels://s1;sentinel://s2' })).toThrow(/CELERY_BROKER_URL: expected a URL/);
    expect(redact(sentinels)).toBe('sentinel://:***@s1:26379;sentinel://:***@s2:26379/0');
  });

  it('reads .env under the environment: the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-app-env-'));
    writeFileSync(join(dir, '.env'), 'API_PORT=9000\nAPP_TIMEZONE=Europe/Berlin\n# a comment\nTASK_ALLOW_LIST="demo.*,reports.*"\n');
    const s = loadSettings(appEnvironment({ API_PORT: '9100' }, join(dir, '.env')));
    expect(s).toMatchObject({ apiPort: 9100, timezone: 'Europe/Berlin', taskAllowList: ['demo.*', 'reports.*'] });
    expect(appEnvironment({}, join(dir, 'missing.env'))).toEqual({});
  });

  it('reports every bad value at once, by variable, with what was expected', () => {
    let error: SettingsError | undefined;
    try {
      loadSettings({ API_PORT: 'eighty', CELERY_BROKER_URL: 'kafka://x', APP_TIMEZONE: 'Mars/Olympus', FLOWER_BASIC_AUTH: 'nocolon', DATABASE_URL: 'mysql://u:secret@h/db', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err as SettingsError;
    }
    expect(error).toBeInstanceOf(SettingsError);
    expect(error?.problems.map((p) => p.name)).toEqual(['CELERY_BROKER_URL', 'DATABASE_URL', 'API_PORT', 'FLOWER_BASIC_AUTH', 'APP_TIMEZONE', 'LOG_LEVEL']);
    expect(error?.message).toContain('API_PORT: expected an integer from 0 to 65535, got "eighty"');
    // Passwords never reach the message.
    expect(error?.message).not.toContain('secret');
  });

  it('requires shared services when roles run as separate processes', () => {
    expect(() => loadSettings({}, 'worker')).toThrow(/CELERY_BROKER_URL: must be set when roles run as separate processes/);
    const beatOnly = loadSettings({ CELERY_BROKER_URL: 'redis://r/0' }, 'beat');
    expect(beatOnly.brokerUrl).toBe('redis://r/0');
    const full = { CELERY_BROKER_URL: 'redis://r/0', REDIS_URL: 'redis://r/1', DATABASE_URL: 'postgres://p/db' };
    expect(loadSettings(full, 'api')).toMatchObject({ seedDemoData: false, workerName: 'worker@%h' });
  });

  it('redacts passwords in URLs', () => {
    expect(redact('redis://:pw@host:6379/0')).toBe('redis://:***@host:6379/0');
    expect(redact('postgres://u:pw@h/db')).toBe('postgres://u:***@h/db');
  });
});
