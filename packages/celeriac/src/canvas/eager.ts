/**
 * @module canvas/eager
 * Canvas in eager mode (`taskAlwaysEager`, for users' own tests): every task runs in the
 * caller, so a chain runs its steps one after another, a group its members in turn, and a
 * chord its header then its body, passing results along as a worker would.
 */
import type { AsyncResult } from '../core/async-result.js';
import type { ApplyOptions } from '../core/call-options.js';
import { GroupResult } from '../core/group-result.js';
import type { Json, SignatureDict } from '../protocol/types.js';
import { chordParts, flattenChain, flattenGroup, memberDicts } from './dicts.js';
import type { CanvasHost } from './host.js';

/** Sends one dict; the caller's own dispatcher (canvas/apply.ts). */
export type ApplyOne = (dict: SignatureDict, args: readonly Json[], options: ApplyOptions) => Promise<AsyncResult | GroupResult>;

async function valueOf(result: AsyncResult | GroupResult): Promise<Json> {
  return (await result.get()) as Json;
}

/** Runs a chain, group or chord dict eagerly. */
export async function applyEager(host: CanvasHost, dict: SignatureDict, args: readonly Json[], apply: ApplyOne): Promise<AsyncResult | GroupResult> {
  const partial = dict.immutable ? [...dict.args] : [...args, ...dict.args];
  if (dict.subtask_type === 'chain') {
    let last: AsyncResult | GroupResult | undefined;
    let input: Json[] = partial;
    for (const step of flattenChain(memberDicts(dict))) {
      last = await apply(step, input, {});
      input = [await valueOf(last)];
    }
    if (last === undefined) return new GroupResult(dict.options['task_id'] as string, [], host);
    return last;
  }
  if (dict.subtask_type === 'group') {
    const results: AsyncResult[] = [];
    for (const member of flattenGroup(memberDicts(dict))) {
      const r = await apply(member, partial, {});
      results.push(...(r instanceof GroupResult ? r.results : [r]));
    }
    return new GroupResult(String(dict.options['task_id'] ?? 'eager-group'), results, host);
  }
  const { header, body } = chordParts(dict);
  const headerResult = await applyEager(host, header, partial, apply);
  return apply(body, [await valueOf(headerResult)], {});
}
