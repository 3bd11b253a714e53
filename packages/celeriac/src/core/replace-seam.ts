/**
 * @module core/replace-seam
 * The seam behind `ctx.replace(signature)`. Replacing needs the canvas layer (chains, groups,
 * chords are sent there), which core may not import, so `createApp` gives each app the
 * canvas implementation when it builds it, and the task context calls it through the
 * running task's app (`TaskHost.replaceTask`).
 */
import type { Json, TaskMessage } from '../protocol/types.js';
import type { SignatureLike } from './call-options.js';

/** What a replacement is built from: the running task's message and how it runs. */
export interface ReplaceRequest {
  /** The message of the task being replaced (its id, group, chord, chain, callbacks). */
  readonly message: TaskMessage;
  /** True in eager mode: the replacement runs in the caller and its value is returned. */
  readonly isEager: boolean;
  /** `replaced_task_nesting` of the task being replaced. */
  readonly nesting: number;
  /**
   * Not a replace: `ctx.addToChord` (Celery's `Task.add_to_chord`), which goes through the
   * same seam; the result is the added signature's result id.
   */
  readonly addToChord?: boolean;
}

/**
 * Sends `replacement` in place of the running task. In a worker it always throws (Celery's
 * `Ignore`, once the replacement is sent); in eager mode it resolves with the replacement's result.
 */
export type Replacer = (request: ReplaceRequest, replacement: SignatureLike) => Promise<Json>;

/**
 * `replaced_task_nesting` of a message: a property in Celery 5.2.6, a header from Celery 5.3
 * on (kept among the extra headers); 0 when neither is there.
 */
export function replacedNesting(message: TaskMessage): number {
  const value = message.properties['replaced_task_nesting'] ?? message.extraHeaders['replaced_task_nesting'];
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 0;
}
