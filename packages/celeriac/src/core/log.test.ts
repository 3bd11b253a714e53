import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { celeryTime, createLogger, formatHumanLine, resolveLogFormat, serializeError } from './log.js';

const at = new Date(2026, 10, 22, 23, 0, 0, 123).getTime();

describe('human log lines', () => {
  it("writes pino's JSON as Celery's worker does", () => {
    expect(celeryTime(at)).toBe('2026-11-22 23:00:00,123');
    const line = JSON.stringify({ level: 30, time: at, pid: 1, worker: 'w@h', taskId: 'x', msg: 'Task t[x] succeeded in 0.010s: 5' });
    expect(formatHumanLine(line)).toBe('[2026-11-22 23:00:00,123: INFO/MainProcess] Task t[x] succeeded in 0.010s: 5\n');
  });

  it('keeps the fields of warnings and the stack of errors', () => {
    const warn = JSON.stringify({ level: 40, time: at, pid: 1, msg: 'slow', taskId: 'x' });
    expect(formatHumanLine(warn)).toBe('[2026-11-22 23:00:00,123: WARNING/MainProcess] slow {"taskId":"x"}\n');
    const error = JSON.stringify({ level: 60, time: at, msg: 'boom', err: { message: 'bad', stack: 'Error: bad\n    at f' } });
    expect(formatHumanLine(error)).toBe('[2026-11-22 23:00:00,123: CRITICAL/MainProcess] boom\nError: bad\n    at f\n');
  });

  it('does not repeat a field whose value the message says', () => {
    const line = JSON.stringify({ level: 50, time: at, msg: 'Task t[abc] raised unexpected: TypeError(\'x\')', taskId: 'abc', taskName: 't', retries: 2 });
    expect(formatHumanLine(line)).toBe('[2026-11-22 23:00:00,123: ERROR/MainProcess] Task t[abc] raised unexpected: TypeError(\'x\') {"retries":2}\n');
  });

  it("names a pool child's line by its processName", () => {
    const line = JSON.stringify({ level: 40, time: at, pid: 1, processName: 'ForkPoolWorker-9', msg: 'careful', taskId: 'x' });
    expect(formatHumanLine(line)).toBe('[2026-11-22 23:00:00,123: WARNING/ForkPoolWorker-9] careful {"taskId":"x"}\n');
  });

  it('passes a line that is not JSON through', () => {
    expect(formatHumanLine('plain')).toBe('plain\n');
  });

  it('auto is human on a terminal, json otherwise; human and json are taken as said', () => {
    expect(resolveLogFormat('auto', true)).toBe('human');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('human', false)).toBe('human');
  });
});

describe('serializeError', () => {
  it("names each cause once: a message that already says its cause's text is not followed by it again", () => {
    const socket = new Error('Socket closed unexpectedly');
    const wrapped = new CeleriacError(ErrorCodes.TRANSPORT, 'Redis error during publish to q: Socket closed unexpectedly', { cause: socket });
    expect(serializeError(wrapped)).toMatchObject({ message: 'Redis error during publish to q: Socket closed unexpectedly', type: 'CeleriacError' });
    // A cause the message does not say is still named, as pino names it.
    const silent = new Error('could not publish', { cause: new Error('ECONNRESET', { cause: socket }) });
    expect(serializeError(silent)).toMatchObject({ message: 'could not publish: ECONNRESET: Socket closed unexpectedly' });
    expect((serializeError(silent) as { stack: string }).stack).toMatch(/caused by: Error: ECONNRESET/);
    const loop = new Error('a');
    (loop as { cause?: unknown }).cause = loop;
    expect(serializeError(loop)).toMatchObject({ message: 'a' });
    expect(serializeError('not an error')).toBe('not an error');
  });

  it('is the serializer of the loggers createLogger makes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-log-'));
    try {
      const file = join(dir, 'out.log');
      createLogger({ format: 'json', file }).warn({ err: new CeleriacError(ErrorCodes.TRANSPORT, 'Redis error during x: boom', { cause: new Error('boom') }) }, 'w');
      expect((JSON.parse(readFileSync(file, 'utf8')) as { err: { message: string } }).err.message).toBe('Redis error during x: boom');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
