import { describe, expect, it } from 'vitest';
import { createApp } from '../create-app.js';
import { ErrorCodes } from '../errors.js';
import { checkPriority, checkSeconds, checkTimeLimit, priorityProblem, secondsProblem, timeLimitProblem } from './limits.js';
import { decodeTaskMessage } from './task-message.js';

const BAD = [NaN, Infinity, -Infinity, -1, -0.001, '5', true, {}];

describe('one rule for limits', () => {
  it('time limits: finite seconds >= 0 or null; 0 and null mean none', () => {
    expect([null, undefined, 0, 0.5, 30, 1e9].map((v) => timeLimitProblem(v))).toEqual([null, null, null, null, null, null]);
    expect([null, undefined, 0, 30].map((v) => checkTimeLimit(v, 'timeLimit'))).toEqual([null, null, null, 30]);
    for (const bad of BAD) {
      expect(timeLimitProblem(bad)).toMatch(/^must be a finite number of seconds >= 0, or null/);
      expect(() => checkTimeLimit(bad, 'timeLimit')).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    }
  });

  it('countdown and expires: finite seconds >= 0; priority: an integer 0-9', () => {
    expect(secondsProblem(0)).toBeNull();
    expect(secondsProblem(null)).not.toBeNull();
    for (const bad of BAD) expect(() => checkSeconds(bad, 'countdown')).toThrow(/^countdown must be a finite number of seconds >= 0/);
    expect([0, 9].map(priorityProblem)).toEqual([null, null]);
    for (const bad of [...BAD, 10, 1.5]) expect(() => checkPriority(bad, 'priority')).toThrow(/^priority must be an integer from 0 to 9/);
  });

  it('task options, call options and the decoder agree: 0 is sent and read as no limit; Infinity never reaches a send', async () => {
    const app = createApp({}, { env: {} });
    const t = app.task('limits.zero', { timeLimitSec: 0, softTimeLimitSec: null }, () => 1);
    const sent: string[] = [];
    app.signals.on('beforeTaskPublish', ({ message }) => void sent.push(JSON.stringify(message.headers.timelimit)));
    await t.applyAsync([], { timeLimitSec: 0 });
    expect(sent).toEqual(['[0,null]']);
    expect(() => app.task('limits.inf', { timeLimitSec: Infinity }, () => 1)).toThrow(/timeLimitSec must be a finite number/);
    await expect(t.applyAsync([], { softTimeLimitSec: NaN })).rejects.toThrow(/softTimeLimitSec must be a finite number/);
    await app.close();
  });

  it('the decoder refuses a negative time limit in the headers', () => {
    const headers = { lang: 'py', task: 't', id: 'i', root_id: 'i', parent_id: null, group: null, retries: 0, timelimit: [-1, null], eta: null, expires: null };
    expect(() => decodeTaskMessage({ headers, properties: {}, contentType: 'application/json', contentEncoding: 'utf-8', body: '[[], {}, {}]' } as never)).toThrow(/timelimit must be a finite number of seconds >= 0/);
  });
});
