/**
 * @module testing/backend-harness
 * The set-up every result backend conformance suite shares (one suite per backend role):
 * a fresh, connected adapter per test, unique ids, a wait helper and a way to let stored
 * records expire. Internal to testing/; not exported from `celeriac/testing`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe } from 'vitest';
import type { ResultStore } from '../core/spi/backend.js';
import type { Json, ResultMeta, TaskState } from '../protocol/types.js';
import { sleep } from './wait-for.js';

/** Options every result backend conformance suite takes. */
export interface BackendSuiteOptions<B extends ResultStore = ResultStore> {
  /** Runs after each test, before the backend is closed (delete keys...). */
  cleanup?: (backend: B) => Promise<void>;
  /**
   * Prefix of every task and group id the suite creates (each gets a random suffix).
   * @default 'celeriac-conformance-'
   */
  idPrefix?: string;
  /**
   * Lets `ms` pass for expiry checks: advance the fake clock the adapter was made with, or
   * sleep for adapters whose server keeps time.
   * @default real sleep
   */
  pass?: (ms: number) => Promise<void>;
  /**
   * False for a backend that keeps results only in the waiting process's memory and never
   * expires them (`rpc://`, as Celery's): the expiry test is skipped and says why.
   * @default true
   */
  expires?: boolean;
}

/** What a suite's tests get. */
export interface BackendSuite<B extends ResultStore> {
  /** The adapter of the running test, connected. */
  backend(): B;
  /** A fresh id under the suite's prefix. */
  newId(): string;
  /** Lets `ms` pass (see {@link BackendSuiteOptions.pass}). */
  pass(ms: number): Promise<void>;
}

/** No expiry: what most tests store with. */
export const FOREVER = { expiresSec: null };

/** A result meta in Celery's shape and field order. */
export function makeMeta(taskId: string, status: TaskState, result: Json): ResultMeta {
  const ready = status === 'SUCCESS' || status === 'FAILURE' || status === 'REVOKED';
  return {
    status,
    result,
    traceback: null,
    children: [],
    date_done: ready ? '2026-01-01T00:00:00.000000' : null,
    task_id: taskId,
  };
}

/**
 * A vitest `describe` block whose tests each get a fresh adapter from `makeBackend`, connected
 * before and cleaned up and closed after the test.
 */
export function defineBackendSuite<B extends ResultStore>(
  title: string,
  makeBackend: () => Promise<B> | B,
  options: BackendSuiteOptions<B>,
  define: (suite: BackendSuite<B>) => void,
): void {
  const prefix = options.idPrefix ?? 'celeriac-conformance-';
  describe(title, () => {
    let current: B;
    beforeEach(async () => {
      current = await makeBackend();
      await current.connect();
    });
    afterEach(async () => {
      await options.cleanup?.(current);
      await current.close();
    });
    define({ backend: () => current, newId: () => `${prefix}${randomUUID()}`, pass: options.pass ?? sleep });
  });
}
