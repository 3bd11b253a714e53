import { describe, expect, it } from 'vitest';
import { collectWarnings } from '../../test/support/deprecation-warnings.js';
import { compileEntry } from '../beat/compile-entries.js';
import { createApp } from '../create-app.js';
import { ErrorCodes } from '../errors.js';
import { buildTaskMessage } from './producer.js';
import { toWireOptions } from './signature-options.js';
import type { TaskOptions } from './task-options.js';

// Each process warns once per name, and unit tests share processes: each name is used once here.
describe('task options of 0.1 without a unit', () => {
  const renamed: [old: keyof TaskOptions, now: keyof TaskOptions, value: number][] = [
    ['timeLimit', 'timeLimitSec', 30],
    ['softTimeLimit', 'softTimeLimitSec', 20],
    ['defaultRetryDelay', 'defaultRetryDelaySec', 7],
    ['retryBackoffMax', 'retryBackoffMaxSec', 90],
  ];
  for (const [old, now, value] of renamed) {
    it(`${old}: read as ${now} (the same seconds), warned once, refused beside ${now}`, async () => {
      const app = createApp({}, { env: {} });
      const warnings = await collectWarnings(() => {
        const a = app.task(`t.${old}.a`, { [old]: value }, () => null);
        const b = app.task(`t.${old}.b`, { [old]: value }, () => null);
        expect([(a.options as Record<string, unknown>)[now], (b.options as Record<string, unknown>)[now]]).toEqual([value, value]);
        expect(Object.keys(a.options)).not.toContain(old);
      });
      expect(warnings).toEqual([`task option ${old} is deprecated: use ${now} (the same number of seconds); see docs/upgrading.md`]);
      expect(() => app.task(`t.${old}.both`, { [old]: value, [now]: value }, () => null)).toThrow(
        expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: `Task "t.${old}.both": Task options ${old} and ${now} are one task option: give only ${now} (${old} is its deprecated name).` }),
      );
      await app.close();
    });
  }

  it('the old names still reach the message and the retry', async () => {
    const app = createApp({}, { env: {} });
    app.task('t.limits', { timeLimit: 30, softTimeLimit: 20 }, () => null);
    expect(buildTaskMessage(app, 't.limits', [], {}, {}).message.headers.timelimit).toEqual([30, 20]);
    await app.close();
  });

  it('Celery\'s spelling of a renamed option points to the new name', () => {
    const app = createApp({}, { env: {} });
    expect(() => app.task('t.snake', { time_limit: 3 } as never, () => null)).toThrow(/unknown option "time_limit". Did you mean timeLimitSec\?/);
  });
});

describe('call options of 0.1 without a unit', () => {
  it('timeLimit and softTimeLimit on a call are sent as timeLimitSec and softTimeLimitSec, warned once each', async () => {
    const app = createApp({}, { env: {} });
    app.task('c.t', () => null);
    const warnings = await collectWarnings(() => {
      expect(buildTaskMessage(app, 'c.t', [], {}, { timeLimit: 9, softTimeLimit: 8 }).message.headers.timelimit).toEqual([9, 8]);
      expect(buildTaskMessage(app, 'c.t', [], {}, { timeLimit: 7 }).message.headers.timelimit).toEqual([7, null]);
    });
    expect(warnings).toEqual([
      'call option timeLimit is deprecated: use timeLimitSec (the same number of seconds); see docs/upgrading.md',
      'call option softTimeLimit is deprecated: use softTimeLimitSec (the same number of seconds); see docs/upgrading.md',
    ]);
    expect(() => buildTaskMessage(app, 'c.t', [], {}, { timeLimit: 1, timeLimitSec: 2 })).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT, message: 'Call options timeLimit and timeLimitSec are one call option: give only timeLimitSec (timeLimit is its deprecated name).' }),
    );
    await app.close();
  });

  it('a signature\'s options carry them as Celery\'s time_limit and soft_time_limit', () => {
    expect(toWireOptions({ timeLimitSec: 5, softTimeLimitSec: 4, countdown: 3 })).toEqual({ time_limit: 5, soft_time_limit: 4, countdown: 3 });
    expect(toWireOptions({ timeLimit: 5 })).toEqual({ time_limit: 5 });
  });

  it('beat entry options: the new names, Celery\'s snake_case ones, and the old ones; both is a CONFIG error naming the entry', () => {
    const compile = (options: Record<string, unknown>) => compileEntry('e', { task: 't', schedule: 10, options }, { misfireGraceSec: 1 }).options;
    expect(compile({ timeLimitSec: 5, soft_time_limit: 4 })).toEqual({ timeLimitSec: 5, softTimeLimitSec: 4 });
    expect(compile({ timeLimit: 6 })).toEqual({ timeLimitSec: 6 });
    expect(() => compile({ timeLimit: 1, timeLimitSec: 2 })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/^Beat entry "e": Call options timeLimit and timeLimitSec are one call option/) as unknown }));
  });
});
