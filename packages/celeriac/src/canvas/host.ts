/**
 * @module canvas/host
 * What canvas code needs from the app: sending, the result backend, settings, clock and log.
 * The app implements it; canvas never imports the worker.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { GroupResultHost } from '../core/group-result.js';
import type { SignatureHost } from '../core/signature.js';
import type { ApplyOptions } from '../core/call-options.js';
import type { AnyTask } from '../core/task.js';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** The app, as canvas sees it. */
export interface CanvasHost extends SignatureHost, GroupResultHost {
  /** A task registered here (new-style errbacks run in the process where a task failed). */
  lookup?(name: string): AnyTask | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  /** This process's reply queue (rpc://), written into the steps others will send. */
  readonly replyTo: string;
  readonly settings: GroupResultHost['settings'] & { readonly taskAlwaysEager: boolean };
}

/** True when `value` can serve as a {@link CanvasHost} (an App). */
export function isCanvasHost(value: unknown): value is CanvasHost {
  const v = value as Partial<CanvasHost> | undefined;
  return typeof v?.sendTask === 'function' && typeof v.asyncResult === 'function' && v.settings !== undefined && v.clock !== undefined;
}

/** The host of the first signature that has one; an error naming how to give one. */
export function findHost(candidates: readonly unknown[], what: string): CanvasHost {
  for (const c of candidates) {
    const host = (c as { host?: unknown } | null)?.host;
    if (isCanvasHost(host)) return host;
  }
  // An empty group or chain has no signature to take its app from.
  const how = candidates.length === 0 ? `it is empty, so no signature gives one: call .bind(app) first` : `build its signatures with task.s()/task.si(), or call .bind(app) first`;
  throw new CeleriacError(ErrorCodes.STATE, `${what} has no app: ${how}`);
}

/** `options` without its undefined entries, so spreading it never erases a value. */
export function defined(options: ApplyOptions): ApplyOptions {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ApplyOptions;
}

/** Only the plain call options: no ids, no canvas wiring. */
export function callOnly(options: ApplyOptions): ApplyOptions {
  const { taskId, groupId, groupIndex, chord, chain, link, linkError, rootId, parentId, ...rest } = options;
  void [taskId, groupId, groupIndex, chord, chain, link, linkError, rootId, parentId];
  return defined(rest);
}
