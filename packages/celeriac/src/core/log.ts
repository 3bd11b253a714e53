/**
 * @module core/log
 * The logger of an app, a worker, beat and the CLI: pino lines as JSON, or as Celery's worker
 * writes them (`[2026-11-22 23:00:00,123: INFO/MainProcess] Task add[id] succeeded in 0.010s:
 * 5`), to stdout or to a file. Human lines are the default on a terminal, JSON otherwise (a log
 * collector, a pipe, a file), as the `logFormat` setting (`--log-format`,
 * `CELERIAC_LOG_FORMAT`) can say outright.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { dirname } from 'node:path';
import { makeDirs } from './make-dirs.js';
import { traceFields } from './otel.js';

/** How log lines are written: as Celery's human lines, as pino's JSON, or `auto`: human on a terminal. */
export type LogFormat = 'auto' | 'human' | 'json';

/** The formats `logFormat` accepts. */
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'human', 'json'];

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
    const msg = String(entry['msg'] ?? '');
    // A value the message already says (`Task add[<id>] raised ...`) is not repeated.
    const extra = Object.entries(entry).filter(([k, v]) => !BASE_FIELDS.has(k) && !(typeof v === 'string' && msg.includes(v)));
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

/** The format lines are written in: `auto` is human when they go to a terminal, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, toTerminal: boolean): 'human' | 'json' {
  return format === 'auto' ? (toTerminal ? 'human' : 'json') : format;
}

/** The cause of an error, when it has one that is an error. */
function causeOf(err: Error): Error | undefined {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause : undefined;
}

/**
 * pino's `err` serializer, but the message names each cause once: pino appends every cause's
 * message (`a: b: c`), and ours already say their cause (`Redis error during publish to q:
 * Socket closed unexpectedly`), which became "...: Socket closed unexpectedly: Socket closed
 * unexpectedly". A cause whose text the message holds is not appended again.
 */
export function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error);
  if (!(err instanceof Error)) return out;
  let message = err.message;
  const seen = new Set<Error>([err]);
  for (let cause = causeOf(err); cause !== undefined && !seen.has(cause); cause = causeOf(cause)) {
    seen.add(cause);
    if (cause.message !== '' && !message.includes(cause.message)) message += `: ${cause.message}`;
  }
  return { ...out, message };
}

/** Where and how to log. */
export interface LoggerOptions {
  /** pino level name. @default 'info' */
  readonly level?: string;
  /** @default 'auto' (human when the lines go to a terminal) */
  readonly format?: LogFormat;
  /** A file to append to (created, with its folder). @default stdout */
  readonly file?: string;
  /**
   * Without `file`: stdout (1) or stderr (2). The CLI's client commands (`call`, `result`,
   * `inspect`...) log to stderr, so their stdout is only their answer. @default 1
   */
  readonly fd?: 1 | 2;
}

/** The loggers {@link createLogger} made: the CLI moves only those of a client command to stderr. */
const stock = new WeakSet<Logger>();

/** Whether `logger` is one {@link createLogger} made (an app's default), not one the user gave. */
export function isStockLogger(logger: Logger): boolean {
  return stock.has(logger);
}

/**
 * A pino logger as the app, the worker, beat and the CLI use: `{ pid }` on every line (and
 * `trace_id`/`span_id` while an OpenTelemetry span is active, docs/tracing.md), human or
 * JSON lines as `format` says. JSON to stdout is pino's own (buffered) destination, as before
 * this function existed; human lines and files are written synchronously, so the last lines
 * before an exit (a shutdown, a crash) are not lost.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  // While a span is active (a tracer provider registered), each line names its trace and span.
  const pinoOptions = { level: options.level ?? 'info', base: { pid: process.pid }, mixin: traceFields, serializers: { err: serializeError } };
  const toFile = options.file !== undefined;
  const fd = options.fd ?? 1;
  const format = resolveLogFormat(options.format ?? 'auto', !toFile && (fd === 2 ? process.stderr : process.stdout).isTTY === true);
  let logger: Logger;
  if (!toFile && fd === 1 && format === 'json') logger = pino(pinoOptions);
  else {
    if (toFile) makeDirs(dirname(options.file!));
    const target = toFile ? pino.destination({ dest: options.file, sync: true, append: true }) : pino.destination({ dest: fd, sync: true });
    logger = pino(pinoOptions, format === 'human' ? humanStream(target) : target);
  }
  stock.add(logger);
  return logger;
}
