import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { childLogRelay, childProcessName, forwardingLogger } from './child-log.js';

/** A worker logger at `level` that keeps its lines, with the worker's binding. */
function workerLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level, base: { pid: 4242 } }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) }).child({ worker: 'w@h' });
  return { log, lines };
}

describe('pool child log lines', () => {
  it("reach the worker's logger with their level, fields, error and the child's name", () => {
    const { log, lines } = workerLogger('info');
    const relay = childLogRelay(log, childProcessName('process', 77));
    const child = forwardingLogger('debug', relay).child({ taskId: 't1' });
    child.info({ step: 1 }, 'hello');
    child.debug('too low for the worker');
    const err = new TypeError('bad arg');
    child.error({ err }, 'failed');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'hello', step: 1, taskId: 't1', worker: 'w@h', pid: 4242, processName: 'ForkPoolWorker-77' });
    expect(lines[1]).toMatchObject({ level: 50, msg: 'failed', processName: 'ForkPoolWorker-77', err: { type: 'TypeError', message: 'bad arg' } });
    expect(String((lines[1]!['err'] as { stack: string }).stack)).toContain('TypeError: bad arg');
  });

  it('names a thread, keeps a line without a message, and warns about one that is not JSON', () => {
    const { log, lines } = workerLogger('trace');
    const relay = childLogRelay(log, childProcessName('thread', 3));
    forwardingLogger('trace', relay).fatal({ n: 1 });
    relay('not json');
    relay('42');
    expect(lines[0]).toMatchObject({ level: 60, n: 1, processName: 'ThreadPoolWorker-3' });
    expect(lines[0]).not.toHaveProperty('msg');
    expect(lines[1]).toMatchObject({ level: 40, line: 'not json', msg: 'pool child wrote a log line that is not JSON' });
    expect(lines[2]).toMatchObject({ level: 40, line: '42' });
  });
});
