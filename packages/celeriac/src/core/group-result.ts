/**
 * @module core/group-result
 * The result of a group: one {@link AsyncResult} per member, in the order the members were
 * given, under the group id. `save()` / `GroupResult.restore()` use Celery's
 * `celery-taskset-meta-<gid>` record (docs/protocol.md §3.6), so Python's
 * `GroupResult.restore(gid)` reads what Celeriac saves and the other way round.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';
import { groupMeta } from '../protocol/result.js';
import { isReady } from '../protocol/states.js';
import type { ResultTuple } from '../protocol/types.js';
import { getOptionsObject, waitMsOf, type AsyncResult, type ResultHost } from './async-result.js';
import { revokeCallOptions } from './revoke-options.js';
import { groupStoreOf, requireGroupStore, revokeTasks } from './spi/roles.js';
import type { Clock } from './clock.js';
import { ResultTimeoutError } from './task-errors.js';
import { nonEmptyString } from './option-names.js';

/** What a GroupResult needs from its app. */
export interface GroupResultHost extends ResultHost {
  readonly settings: { readonly resultExpiresSec: number | null };
  /** The app's clock: a group's timeout is measured on it. */
  readonly clock: Pick<Clock, 'now'>;
}

/** Options of {@link GroupResult.get}. */
export interface GroupGetOptions {
  /** Milliseconds to wait for the whole group; undefined waits forever. */
  timeoutMs?: number;
  /** @deprecated The same as `timeoutMs` (milliseconds), the name before units were spelled out. */
  timeout?: number;
  /** Throw the first member error met (in member order). @default true */
  propagate?: boolean;
  /** Abort the wait. */
  signal?: AbortSignal;
}

/** Results of a group's members. `R` is the tuple (or array) of member return types. */
export class GroupResult<R extends readonly unknown[] = unknown[]> {
  constructor(
    /** The group id (`headers.group` of every member). */
    readonly id: string,
    /** Member results, in member order. */
    readonly results: readonly AsyncResult[],
    private readonly host: GroupResultHost,
    /** The result of the step before, when the group is a chain's last step (Celery's `parent`). */
    readonly parent: AsyncResult | null = null,
  ) {}

  /** Member ids in order. */
  get ids(): string[] {
    return this.results.map((r) => r.id);
  }

  /**
   * Waits for every member and returns their values in member order (Celery's `join`).
   * `timeoutMs` bounds the whole wait; with `propagate` (default) the first failed member's
   * error is thrown, otherwise errors take the place of values.
   */
  async get(options?: GroupGetOptions): Promise<R> {
    const given = getOptionsObject(options);
    const { propagate = true, signal } = given;
    const timeout = waitMsOf(given);
    const { clock } = this.host;
    const deadline = timeout === undefined ? undefined : clock.now() + timeout;
    const values: unknown[] = [];
    for (const result of this.results) {
      const left = deadline === undefined ? undefined : deadline - clock.now();
      if (left !== undefined && left <= 0) throw new ResultTimeoutError(this.id, timeout as number);
      const waitOptions = { propagate, ...(left === undefined ? {} : { timeoutMs: left }), ...(signal ? { signal } : {}) };
      values.push(await result.get(waitOptions));
    }
    return values as unknown as R;
  }

  /** Celery's `join()`: the same as {@link GroupResult.get}. */
  join(options: GroupGetOptions = {}): Promise<R> {
    return this.get(options);
  }

  /** Celery's `children`: the member results. */
  get children(): readonly AsyncResult[] {
    return this.results;
  }

  /** True once every member is ready (one round trip). */
  async ready(): Promise<boolean> {
    return (await this.states()).every((s) => isReady(s));
  }

  /** True when every member succeeded. */
  async successful(): Promise<boolean> {
    return (await this.states()).every((s) => s === 'SUCCESS');
  }

  /** True when any member failed. */
  async failed(): Promise<boolean> {
    return (await this.states()).some((s) => s === 'FAILURE');
  }

  /** How many members succeeded (Celery's `completed_count`). */
  async completedCount(): Promise<number> {
    return (await this.states()).filter((s) => s === 'SUCCESS').length;
  }

  /** True while any member is not ready. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }

  /** Stores the member list as `celery-taskset-meta-<gid>`, for {@link GroupResult.restore}. */
  async save(): Promise<void> {
    await requireGroupStore(this.host.backend).saveGroup(this.id, groupMeta(this.id, this.ids), { expiresSec: this.host.settings.resultExpiresSec });
  }

  /** Deletes the saved member list (when the backend saves groups) and every member's result. */
  async forget(): Promise<void> {
    await groupStoreOf(this.host.backend)?.forgetGroup(this.id);
    await Promise.all(this.results.map((r) => r.forget()));
  }

  /** Celery's `delete()`: deletes the saved member list only (members' results stay). */
  async delete(): Promise<void> {
    await groupStoreOf(this.host.backend)?.forgetGroup(this.id);
  }

  /** Revokes every member (`terminate`, `signal` as {@link AsyncResult.revoke}). */
  async revoke(options: { terminate?: boolean; signal?: string } = {}): Promise<void> {
    await revokeTasks(this.host, this.ids, { expiresSec: this.host.revokeExpiresSec, ...revokeCallOptions(options) });
  }

  /** The `children` tuple of this group: `[[gid, null], [member tuples]]`. */
  asTuple(): ResultTuple {
    return [[this.id, null], this.ids.map((id): ResultTuple => [[id, null], null])];
  }

  /** A group saved with {@link GroupResult.save} (by Celeriac or Python), or null. */
  static async restore(host: GroupResultHost, groupId: string): Promise<GroupResult | null> {
    const meta = await requireGroupStore(host.backend).getGroup(nonEmptyString(groupId, 'GroupResult.restore(): a group id'));
    if (meta === null) return null;
    const members = meta.result[1];
    if (members === null) throw new CeleriacError(ErrorCodes.PROTOCOL, `saved group ${groupId} has no member list`);
    return new GroupResult(groupId, members.map((tuple) => host.asyncResult(tuple[0][0])), host);
  }

  private async states(): Promise<string[]> {
    const metas = await this.host.backend.getMany(this.ids);
    return metas.map((m) => m?.status ?? 'PENDING');
  }
}
