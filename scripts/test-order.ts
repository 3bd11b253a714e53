/**
 * The order `vitest run` starts test files in (vitest.config.ts, `sequence.sequencer`).
 *
 * The suite's wall time is its CPU time over the machine's cores plus the tail: the time at
 * the end when fewer files are left than workers. A 45 s file started last keeps one worker
 * busy for 45 s after the others have finished. So the longest files start first and the
 * shortest come last, where they fill in beside the long ones.
 *
 * How long a file takes: vitest's own cache of the last run on this machine when there is
 * one; on a fresh clone (CI) there is none, so SLOW_FILES below gives the files that take
 * longest; every other file is assumed short, and larger ones start first.
 *
 * Projects stay together, isolated ones (integration) before shared-worker ones (unit):
 * vitest hands the next file to a worker that has just finished a unit file only when that
 * next file is a unit file too, and unit files are short, so they fill the tail.
 */

/**
 * Seconds the test files over 10 s took (wall, 4 workers beside each other) in a full
 * `CI=true npm test` at 50d703b (tests loading dist/) on the 2-core test machine, load 3-8. Only
 * the order matters: refresh it from a run's per-file times when the slowest files change.
 * The interop files' times are doubled since (they run once per Celery oracle, 5.2 and 5.6).
 */
export const SLOW_FILES: Readonly<Record<string, number>> = {
  'packages/celeriac/test/interop/redis-recovery.test.ts': 112.8,
  'packages/celeriac/test/cli/bin.test.ts': 53.1,
  'packages/celeriac/test/cli/deploy-flags.test.ts': 48.6,
  'apps/api/test/main.test.ts': 36.3,
  'packages/dashboard/test/browser/dashboard.browser.test.ts': 32.1,
  'packages/dashboard/test/history-store.pglite.test.ts': 28.5,
  'packages/celeriac/test/interop/monitor-interop.test.ts': 28.4,
  'packages/celeriac/test/interop/canvas-interop.test.ts': 27.8,
  'packages/dashboard/test/browser/access-and-outage.browser.test.ts': 26.9,
  'packages/celeriac/test/interop/amqp-interop.test.ts': 26.0,
  'packages/celeriac/test/chaos/chaos.test.ts': 25.8,
  'packages/celeriac/test/failure/amqp-cluster.test.ts': 25.0,
  'packages/celeriac/test/failure/amqp-node-restart.test.ts': 25.0,
  'packages/celeriac/test/interop/amqp-quorum-interop.test.ts': 24.0,
  'packages/celeriac/test/failure/shutdown-outage.test.ts': 25.7,
  'apps/api/test/processes.test.ts': 25.3,
  'packages/celeriac/test/beat/beat-failover.test.ts': 24.3,
  'packages/celeriac/test/interop/redis-interop.test.ts': 23.0,
  'packages/celeriac/test/interop/canvas-property.test.ts': 21.6,
  'packages/celeriac/test/interop/control-interop.test.ts': 20.8,
  'packages/celeriac/test/beat/beat-failover-amqp.test.ts': 17.0,
  'packages/celeriac/test/cli/multi.test.ts': 16.0,
  'packages/celeriac/test/failure/amqp-lost-task.test.ts': 15.6,
  'apps/api/test/api.pglite.test.ts': 14.8,
  'packages/celeriac/test/failure/kill-worker.test.ts': 14.7,
  'packages/celeriac/test/worker/pools-prefork.test.ts': 14.5,
  'packages/celeriac/test/worker/pools-prefork-children.test.ts': 14.5,
  'packages/celeriac/test/cli/deadletter.test.ts': 14.4,
  'packages/dashboard/test/features.test.ts': 14.1,
  'packages/celeriac/test/failure/ack-outage.test.ts': 13.9,
  'scripts/check-deps.test.ts': 13.4,
  'packages/celeriac/test/redis/backend/redis-backend.test.ts': 12.6,
  'packages/celeriac/src/brokers/amqp/amqp-broker.test.ts': 12.5,
  'packages/dashboard/test/cli-restart.test.ts': 12.3,
  'packages/celeriac/test/failure/network-blackhole.test.ts': 11.8,
  'packages/celeriac/test/worker/livelock.test.ts': 11.5,
  'packages/dashboard/test/live-and-hostile.test.ts': 10.8,
  'packages/dashboard/test/api-compat.test.ts': 10.7,
  'apps/api/test/live-page.browser.test.ts': 10.7,
};

/** What the order of one test file depends on. */
export interface FileFacts {
  /** vitest project name */
  project: string;
  /** whether the project gives each file a process of its own */
  isolated: boolean;
  /** path from the repository root, with `/` */
  file: string;
  /** how long the file took in vitest's cached last run, if it has one */
  durationMs: number | undefined;
  /** size in bytes, if known */
  size: number | undefined;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Sorts test files: isolated projects first, each project's files together, then within a
 * project the longest expected first (cached duration, else SLOW_FILES, else 0), then the
 * larger first, then by path, so the order never depends on the order given.
 */
export function orderTestFiles<T>(items: readonly T[], facts: (item: T) => FileFacts, slow: Readonly<Record<string, number>> = SLOW_FILES): T[] {
  const keyed = items.map((item) => {
    const f = facts(item);
    const listed = Object.hasOwn(slow, f.file) ? slow[f.file] : undefined;
    return { item, f, expectedMs: f.durationMs ?? (listed === undefined ? 0 : listed * 1000) };
  });
  keyed.sort(
    (a, b) =>
      Number(!a.f.isolated) - Number(!b.f.isolated) ||
      byText(a.f.project, b.f.project) ||
      b.expectedMs - a.expectedMs ||
      (b.f.size ?? 0) - (a.f.size ?? 0) ||
      byText(a.f.file, b.f.file),
  );
  return keyed.map((k) => k.item);
}
