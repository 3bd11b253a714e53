/**
 * @module worker/pools/child-log
 * Log lines of a pool child go where the worker's go. A child's app logs through
 * {@link forwardingLogger}, which hands each pino JSON line to the worker over the child
 * protocol (`{ type: 'log' }`) instead of writing it; the worker replays it through its own
 * logger with {@link childLogRelay}, so `--logfile`, `--log-format human`, the level and the
 * worker's name apply to it as to the worker's own lines. The line names the child as
 * Celery's do (`processName`: `ForkPoolWorker-<pid>` for a process, `ThreadPoolWorker-<thread
 * id>` for a thread; Celery numbers its children 1..N instead).
 */
import { pino, type Logger } from 'pino';
import type { ChildKind } from './spawn-child.js';

/** A logger at `level` whose lines (pino JSON, one each) go to `send` instead of a stream. */
export function forwardingLogger(level: string, send: (line: string) => void): Logger {
  // No pid or hostname of its own: the worker's logger adds its bindings and `processName`.
  return pino({ level, base: null }, { write: (line: string) => send(line) });
}

/** The name Celery's lines give a pool child, in place of `MainProcess`. */
export function childProcessName(kind: ChildKind, id: number): string {
  return `${kind === 'process' ? 'ForkPoolWorker' : 'ThreadPoolWorker'}-${id}`;
}

/** Fields of a child's line that the worker's logger writes itself (the time is the worker's, at receipt). */
const OWN_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/**
 * Replays a child's JSON lines through `log`, at their level (a level `log` filters out is
 * dropped there), with the child's fields and `processName`. A line that is not pino's JSON
 * (it cannot come from {@link forwardingLogger}) is logged as a warning, not lost.
 */
export function childLogRelay(log: Logger, processName: string): (line: string) => void {
  // The child serialized its errors already: the worker's serializer would rename their type.
  const relay = log.child({ processName }, { serializers: { err: (err: unknown) => err } });
  return (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      relay.warn({ line }, 'pool child wrote a log line that is not JSON');
      return;
    }
    if (typeof entry !== 'object' || entry === null) return relay.warn({ line }, 'pool child wrote a log line that is not a JSON object');
    const label = typeof entry['level'] === 'number' ? relay.levels.labels[entry['level']] : undefined;
    const method = (label ?? 'info') as pino.Level;
    const fields = Object.fromEntries(Object.entries(entry).filter(([key]) => !OWN_FIELDS.has(key)));
    const msg = entry['msg'];
    if (typeof msg === 'string') relay[method](fields, msg);
    else relay[method](fields);
  };
}
