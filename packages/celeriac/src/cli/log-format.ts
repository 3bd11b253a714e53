/**
 * @module cli/log-format
 * The CLI's logger: pino lines as JSON, or as Celery's worker writes them
 * (`[2026-11-22 23:00:00,123: INFO/MainProcess] Task add[id] succeeded in 0.010s: 5`), to
 * stdout or to `--logfile`. Human lines are the default on a terminal, JSON otherwise (a log
 * collector, a pipe, a file), as `--log-format` can say outright.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { UsageError } from './io.js';

/** The formats of `--log-format`. */
export type LogFormat = 'human' | 'json';

/** pino's numeric levels as Celery names them. */
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARNING', 50: 'ERROR', 60: 'CRITICAL' };

/** Fields pino writes on every line: not repeated after a human line's message. */
const BASE_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err', 'worker', 'processName']);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `2026-11-22 23:00:00,123` in local time, as Celery's `%(asctime)s`. */
export function celeryTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},${pad(d.getMilliseconds(), 3)}`;
}

/**
 * One pino JSON line as Celery writes it: `[time: LEVEL/MainProcess] message` (a pool child's
 * line names the child, `ForkPoolWorker-<pid>`), then the error's stack when there is one. A
 * line that is not pino's JSON passes through.
 */
export function formatHumanLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const level = LEVEL_NAMES[entry['level'] as number] ?? String(entry['level']);
  const time = typeof entry['time'] === 'number' ? entry['time'] : Date.now();
  const processName = typeof entry['processName'] === 'string' ? entry['processName'] : 'MainProcess';
  let line = `[${celeryTime(time)}: ${level}/${processName}] ${String(entry['msg'] ?? '')}`;
  // Fields the message does not say (ids, counts) are kept, compactly, for warnings and worse.
  if ((entry['level'] as number) >= 40) {
    const extra = Object.entries(entry).filter(([k]) => !BASE_FIELDS.has(k));
    if (extra.length > 0) line += ` ${JSON.stringify(Object.fromEntries(extra))}`;
  }
  const err = entry['err'] as { stack?: unknown; message?: unknown } | undefined;
  if (err !== undefined && err !== null) line += `\n${String(err.stack ?? err.message ?? JSON.stringify(err))}`;
  return `${line}\n`;
}

/** A destination that writes each pino line as {@link formatHumanLine} makes it. */
function humanStream(target: DestinationStream): DestinationStream {
  return { write: (chunk: string) => target.write(formatHumanLine(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk)) };
}

/** Reads `--log-format`: human, json, or the default for where lines go. */
export function resolveLogFormat(given: string | undefined, toTerminal: boolean): LogFormat {
  if (given === undefined) return toTerminal ? 'human' : 'json';
  const format = given.toLowerCase();
  if (format !== 'human' && format !== 'json') throw new UsageError(`--log-format must be human or json, got ${JSON.stringify(given)}`);
  return format;
}

/** Where and how the CLI logs. */
export interface CliLogOptions {
  readonly level: string;
  readonly format: LogFormat;
  /** A file to append to (created, with its folder); undefined: stdout. */
  readonly file?: string;
}

/**
 * The logger of a CLI worker or beat. Writes are synchronous: the bin exits right after the
 * command returns, and the last lines (shutdown) must not be lost.
 */
export function createCliLogger(options: CliLogOptions): Logger {
  const target = options.file === undefined ? pino.destination({ dest: 1, sync: true }) : pino.destination({ dest: options.file, sync: true, mkdir: true, append: true });
  const stream = options.format === 'human' ? humanStream(target) : target;
  return pino({ level: options.level, base: { pid: process.pid } }, stream);
}
