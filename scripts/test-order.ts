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
 * Seconds the test files over 10 s took (wall, 6 workers beside each other) in a fresh-clone
 * `CI=true bash .ci/run` at b7179fd on the 2-core test machine (2026-11-26, a slow day: npm test
 * 759 s). Only the order matters: refresh it from a run's per-file times when the slowest files
 * change. The interop files run once per Celery oracle (5.2 and 5.6) within these times.
 */
export const SLOW_FILES: Readonly<Record<string, number>> = {
  'packages/celeriac/test/interop/redis-recovery.test.ts': 151.1,
  'packages/celeriac/test/failure/amqp-cluster.test.ts': 129.0,
  'packages/dashboard/test/history-store.pglite.test.ts': 126.3,
  'packages/celeriac/test/interop/canvas-interop.test.ts': 102.3,
  'packages/celeriac/test/cli/bin.test.ts': 97.9,
  'packages/celeriac/test/interop/control-interop.test.ts': 88.8,
  'packages/celeriac/test/cli/deploy-flags.test.ts': 86.8,
  'packages/celeriac/test/interop/canvas-integration-interop.test.ts': 81.7,
  'packages/celeriac/test/cli/purge-brokers.test.ts': 68.1,
  'apps/api/test/main.test.ts': 65.9,
  'packages/celeriac/test/failure/amqp-node-restart.test.ts': 65.7,
  'packages/celeriac/test/interop/amqp-monitor-interop.test.ts': 65.1,
  'packages/celeriac/test/interop/amqp-interop.test.ts': 62.3,
  'packages/dashboard/test/browser/dashboard.browser.test.ts': 61.9,
  'packages/celeriac/test/interop/trace-interop.test.ts': 60.2,
  'packages/celeriac/test/interop/canvas-property.test.ts': 58.8,
  'packages/celeriac/test/interop/redis-interop.test.ts': 58.4,
  'packages/celeriac/test/interop/monitor-interop.test.ts': 53.1,
  'packages/celeriac/test/failure/poison-crash-loop.test.ts': 52.5,
  'packages/celeriac/test/failure/amqp-lost-task.test.ts': 50.9,
  'packages/celeriac/test/chaos/chaos.test.ts': 49.3,
  'packages/celeriac/test/interop/replace-interop.test.ts': 41.2,
  'packages/dashboard/test/word-blocks.test.ts': 40.8,
  'packages/celeriac/test/interop/errbacks-interop.test.ts': 40.0,
  'packages/celeriac/test/failure/lost-task.test.ts': 39.9,
  'packages/dashboard/test/browser/access-and-outage.browser.test.ts': 39.8,
  'packages/celeriac/test/interop/amqp-rpc-chain.test.ts': 38.6,
  'packages/celeriac/test/failure/startup-races.test.ts': 35.4,
  'scripts/check-deps.test.ts': 34.6,
  'packages/celeriac/test/interop/amqp-chord-interop.test.ts': 33.8,
  'apps/api/test/sentinel-failover.test.ts': 33.3,
  'packages/celeriac/test/interop/event-sequence-interop.test.ts': 32.6,
  'packages/dashboard/test/history-store.postgres.test.ts': 32.4,
  'packages/celeriac/test/interop/add-to-chord-interop.test.ts': 31.8,
  'packages/celeriac/test/worker/pools-prefork-children.test.ts': 30.6,
  'packages/celeriac/test/beat/beat-failover.test.ts': 30.0,
  'apps/api/test/api.pglite.test.ts': 29.7,
  'packages/dashboard/test/live-and-hostile.test.ts': 28.7,
  'packages/celeriac/test/cli/deadletter.test.ts': 28.7,
  'packages/celeriac/test/chaos/fuzz.test.ts': 28.7,
  'packages/dashboard/test/api-compat.test.ts': 28.1,
  'packages/celeriac/test/cli/celery-habits.test.ts': 27.4,
  'packages/celeriac/test/cli/two-copies.test.ts': 27.3,
  'packages/celeriac/test/worker/pools-prefork.test.ts': 26.9,
  'packages/celeriac/test/interop/arguments-interop.test.ts': 26.7,
  'packages/dashboard/test/cli-restart.test.ts': 26.5,
  'packages/celeriac/test/interop/celery-versions-interop.test.ts': 26.2,
  'apps/api/test/processes.test.ts': 25.6,
  'packages/celeriac/test/cli/multi.test.ts': 25.5,
  'packages/celeriac/test/interop/amqp-mixed-fleet.test.ts': 25.2,
  'packages/dashboard/test/cli-dist.test.ts': 25.0,
  'packages/celeriac/test/interop/amqp-quorum-interop.test.ts': 24.9,
  'packages/celeriac/test/interop/pool-stats-interop.test.ts': 24.5,
  'packages/celeriac/test/failure/shutdown-outage.test.ts': 24.5,
  'packages/celeriac/test/interop/execution-interop.test.ts': 24.4,
  'packages/celeriac/test/failure/kill-worker.test.ts': 24.2,
  'packages/dashboard/test/schema-migration.test.ts': 24.1,
  'packages/celeriac/test/interop/unknown-task-interop.test.ts': 23.5,
  'apps/api/test/security/pages.browser.test.ts': 23.4,
  'packages/celeriac/test/interop/redis-eta.test.ts': 23.2,
  'packages/dashboard/test/features.test.ts': 22.8,
  'packages/celeriac/test/worker/pools-threads-children.test.ts': 22.5,
  'apps/api/test/live-page.browser.test.ts': 22.4,
  'packages/celeriac/src/brokers/amqp/amqp-broker.test.ts': 22.1,
  'packages/celeriac/test/interop/revoke-interop.test.ts': 20.9,
  'packages/celeriac/test/beat/beat-redis.test.ts': 20.7,
  'packages/celeriac/test/failure/sentinel-failover.test.ts': 18.8,
  'packages/dashboard/test/workflows.test.ts': 18.4,
  'packages/celeriac/test/interop/retry-policy-interop.test.ts': 18.0,
  'packages/dashboard/test/retention-space.test.ts': 17.8,
  'packages/celeriac/test/worker/pools-redis.test.ts': 17.2,
  'bench/lib/args.test.ts': 17.0,
  'packages/celeriac/test/worker/signals.test.ts': 16.7,
  'packages/celeriac/test/failure/ack-outage.test.ts': 16.3,
  'packages/celeriac/test/worker/livelock.test.ts': 16.2,
  'packages/celeriac/test/beat/beat-failover-amqp.test.ts': 16.2,
  'scripts/run-all.test.ts': 15.9,
  'packages/celeriac/test/interop/events-interop.test.ts': 14.9,
  'scripts/settlement-sites.test.ts': 14.6,
  'packages/celeriac/test/failure/startup-races-cli.test.ts': 14.5,
  'apps/api/test/api.postgres.test.ts': 14.5,
  'packages/celeriac/test/worker/pools-threads.test.ts': 14.1,
  'packages/dashboard/test/security/pages.browser.test.ts': 13.8,
  'packages/dashboard/test/state-model.property.test.ts': 13.7,
  'packages/celeriac/test/footprint.test.ts': 13.7,
  'packages/dashboard/test/security/routes.test.ts': 13.2,
  'packages/celeriac/test/redis/shared-connection.test.ts': 13.2,
  'packages/celeriac/test/redis/backend/redis-backend.test.ts': 13.1,
  'packages/dashboard/test/security/exposure.test.ts': 13.0,
  'packages/celeriac/test/interop/async-result-interop.test.ts': 12.9,
  'packages/celeriac/src/brokers/amqp/amqp-delayed-listing.test.ts': 12.5,
  'packages/dashboard/test/security/oidc.browser.test.ts': 11.6,
  'packages/celeriac/test/worker/tracing-pools.test.ts': 11.5,
  'packages/celeriac/src/protocol/task-message.test.ts': 11.1,
  'apps/api/test/main.amqp.test.ts': 11.1,
  'packages/celeriac/test/failure/amqp-connection-loss.test.ts': 10.5,
  'scripts/api-report.test.ts': 10.4,
  'packages/celeriac/test/redis/broker/lease-keeper.test.ts': 10.3,
  'packages/dashboard/test/sentinel-queues.test.ts': 10.2,
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
