/**
 * @module redis/script
 * Lua scripts shipped as `.lua` files beside the adapter that uses them (one
 * file per atomic transition, each opening with a KEYS/ARGV/returns header). Run with
 * EVALSHA, falling back to EVAL once when the server does not know the script yet (after a
 * restart or SCRIPT FLUSH), so the source crosses the wire only when needed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './client.js';

/** A Lua script's source and its SHA1, as EVALSHA wants it. */
export interface RedisScript {
  /** File name, for error messages. */
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
}

/**
 * Reads a `.lua` file once. Pass `new URL('./scripts/x.lua', import.meta.url)`: tsc does not
 * copy `.lua` files, so the package build copies them to dist (scripts/copy-assets.mjs).
 * `preludes` are files of local helpers several scripts share, written before it.
 */
export function loadScript(file: URL, ...preludes: readonly URL[]): RedisScript {
  const source = [...preludes, file].map((f) => readFileSync(f, 'utf8')).join('\n');
  const name = file.pathname.slice(file.pathname.lastIndexOf('/') + 1);
  return Object.freeze({ name, source, sha1: createHash('sha1').update(source).digest('hex') });
}

/** A plain client's raw command entry (Sentinel clients take `(isReadonly, args)` instead). */
type RawSender = { sendCommand(args: readonly string[]): Promise<unknown> };

/** Sentinel-managed clients have `getSentinelNode`; plain clients do not. */
const isPlain = (client: RedisClient): boolean => !('getSentinelNode' in client);

/**
 * Runs `script` with EVALSHA, retrying once with EVAL on NOSCRIPT. Errors are node-redis's.
 * Not async, and without loops (see evalShaCommand): the worker calls it for every batch it
 * fetches, acks and stores, and V8 compiled the async version, with node-redis's send path
 * inlined, into one of the largest pieces of optimized code of a warming worker.
 */
export function runScript(client: RedisClient, script: RedisScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  if (isPlain(client)) {
    // The raw command skips node-redis's per-call command building (most of its client-side
    // cost for a script call on the hot path).
    const sender = client as unknown as RawSender;
    const command = evalShaCommand(script, keys, args);
    return sender.sendCommand(command).catch((err: unknown) => {
      if (!isNoScript(err)) throw err;
      return sender.sendCommand(['EVAL', script.source, ...command.slice(2)]);
    });
  }
  const options = { keys: [...keys], arguments: [...args] };
  return client.evalSha(script.sha1, options).catch((err: unknown) => {
    if (!isNoScript(err)) throw err;
    return client.eval(script.source, options);
  });
}

/**
 * `EVALSHA sha1 numkeys keys... args...`. Its loops are kept out of runScript, which runs
 * once per batch: they made V8 optimize runScript, node-redis's send path inlined.
 */
function evalShaCommand(script: RedisScript, keys: readonly string[], args: readonly string[]): string[] {
  const command = ['EVALSHA', script.sha1, String(keys.length)];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(arg);
  return command;
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
