/**
 * The worker's success line shows the result as Celery's does: `saferepr(result, 1024)`
 * (Python's quoting, True/None, containers past three levels as `[...]`), not JSON.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Json } from '../protocol/types.js';
import { logEnding, type Ending, type Subject } from './task-outcomes.js';

function successLine(result: Json): string {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const subject = { message: { headers: { id: 'id-1', task: 'proj.report' } } } as unknown as Subject;
  const ending: Ending = { kind: 'success', result, traceback: null, error: null, children: [] };
  logEnding(log, subject, ending, 0.0123);
  return (JSON.parse(lines[0] ?? '{}') as { msg: string }).msg;
}

describe('logEnding: the success line', () => {
  it("writes the result as Celery's saferepr", () => {
    expect(successLine({ sent: true, to: null })).toBe("Task proj.report[id-1] succeeded in 0.012s: {'sent': True, 'to': None}");
    expect(successLine(5)).toBe('Task proj.report[id-1] succeeded in 0.012s: 5');
    expect(successLine("it's")).toBe("Task proj.report[id-1] succeeded in 0.012s: 'it\\'s'");
  });

  it('cuts a long or deep result as saferepr does, without failing the line', () => {
    expect(successLine('x'.repeat(5000)).length).toBeLessThan(1100);
    let deep: Json = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(successLine(deep)).toBe('Task proj.report[id-1] succeeded in 0.012s: [[[[...]]]]');
  });
});
