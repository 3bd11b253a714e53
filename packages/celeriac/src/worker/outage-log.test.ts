import { describe, expect, it } from 'vitest';
import { OutageLog } from './outage-log.js';

function recorder() {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (fields: object, msg?: string) => void lines.push({ level, fields: fields as Record<string, unknown>, msg: msg ?? '' });
  let now = 1_000_000;
  const log = new OutageLog({ warn: at('warn'), info: at('info'), debug: at('debug') } as never, () => now);
  return { lines, log, tick: (ms: number) => (now += ms) };
}

describe('OutageLog', () => {
  it('warns once per state, with the next retry time; repeats go to debug; one line when it works again', () => {
    const { lines, log, tick } = recorder();
    log.failed('OOM', 'Redis error during fetch from celery: OOM command not allowed', { inMs: 100 });
    tick(100);
    log.failed('OOM', 'Redis error during fetch from celery: OOM command not allowed', { inMs: 200 });
    log.failed('OOM', 'Redis error during renew leases: OOM command not allowed', undefined);
    tick(200);
    log.failed('ECONNREFUSED', 'Redis error during fetch from celery: connect ECONNREFUSED', { inMs: 400 });
    tick(1200);
    log.recovered();
    log.recovered();
    expect(lines.map((l) => `${l.level} ${String(l.fields['state'] ?? '')}`)).toEqual(['warn OOM', 'debug OOM', 'debug OOM', 'warn ECONNREFUSED', 'info ']);
    expect(lines[0]?.msg).toBe('broker: Redis error during fetch from celery: OOM command not allowed; retrying in 0.1 s (at 1970-01-01T00:16:40.100Z); logged again when this changes');
    expect(lines[0]?.fields).toEqual({ state: 'OOM', failures: 1, retryAt: '1970-01-01T00:16:40.100Z' });
    expect(lines[4]?.msg).toBe('broker: working again after 4 failures over 1.5 s (last: ECONNREFUSED)');
    expect(log.state).toBeUndefined();
  });

  it('states that take turns in one outage warn once each (a replica: MASTERDOWN for reads, READONLY for writes)', () => {
    const { lines, log } = recorder();
    for (let i = 0; i < 3; i++) {
      log.failed('MASTERDOWN', 'fetch', { inMs: 100 });
      log.failed('READONLY', 'renew leases', undefined);
    }
    expect(lines.map((l) => `${l.level} ${String(l.fields['state'])}`)).toEqual([
      'warn MASTERDOWN',
      'warn READONLY',
      'debug MASTERDOWN',
      'debug READONLY',
      'debug MASTERDOWN',
      'debug READONLY',
    ]);
  });

  it('a state seen before the recovery is news again after it', () => {
    const { lines, log } = recorder();
    log.failed('OOM', 'x', undefined);
    log.recovered();
    log.failed('OOM', 'x', undefined);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info', 'warn']);
  });
});
