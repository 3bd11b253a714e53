/**
 * @module cli/io
 * What a CLI command reads and writes, injectable so commands run in-process in tests.
 */
import type { App } from '../core/app.js';
import { parsePyJson } from '../protocol/py-json.js';

/** Streams and process facts a command uses. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
  /** Asks a question and resolves with the answer line (null at end of input). @default reads stdin */
  prompt?(question: string): Promise<string | null>;
}

/** Shared state of one CLI run. */
export interface CliContext {
  io: CliIo;
  /** An app to use instead of loading `-A` (tests, embedding). */
  app?: App;
  /** The command line as `process.argv` gives it (node, script, args); `worker --detach` starts it again. */
  argv?: readonly string[];
  /**
   * Called before a TypeScript module (`-A app.ts`, `graph mod.ts#wf`) is imported: the bin
   * registers tsx here, only then, so commands on compiled or no modules (`celeriac -b <url>
   * flower`) run without its loader thread. @default nothing (the caller loads TypeScript)
   */
  beforeTypeScript?: () => Promise<void>;
  /**
   * Sets the process's heap policy before `worker` starts one (cli/worker-heap.ts).
   * @default tuneWorkerHeap
   */
  tuneHeap?: () => void;
}

/** Options every command inherits from the program. */
export interface GlobalOptions {
  app?: string;
  broker?: string;
  resultBackend?: string;
}

/**
 * Resolves on the first SIGINT or SIGTERM: how long-running commands (`events`, `flower`)
 * learn that they should stop. Its listeners are removed once it resolves.
 */
export function untilSignalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/** A usage error: printed without a stack trace, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Parses a JSON option, with an error that names the option. An integer a double cannot hold
 * (`2**64`, a Snowflake id) is read exactly, as a bigint, as `celery call` reads it: JSON.parse
 * rounded it silently.
 */
export function parseJsonOption<T>(flag: string, text: string | undefined, kind: 'array' | 'object', fallback: T): T {
  if (text === undefined) return fallback;
  let value: unknown;
  try {
    value = parsePyJson(text);
  } catch (err) {
    throw new UsageError(`${flag} must be a JSON ${kind}: ${(err as Error).message}`);
  }
  const ok = kind === 'array' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!ok) throw new UsageError(`${flag} must be a JSON ${kind}, got ${text}`);
  return value as T;
}

/** Parses a number option, with an error that names the option. */
export function parseNumberOption(flag: string, text: string | undefined, { integer = false, min = 0 } = {}): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(text)}`);
  }
  return n;
}
