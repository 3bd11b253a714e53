import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { distPattern, distPlugin, useDist } from './scripts/test-dist.ts';
import { orderTestFiles } from './scripts/test-order.ts';
import { CHAOS_TESTS } from './scripts/chaos-suite.ts';

// The packages whose compiled dist/ tests load when it is current (scripts/test-dist.ts says why).
const PACKAGES = ['packages/celeriac', 'packages/dashboard'].map((p) => fileURLToPath(new URL(`./${p}`, import.meta.url)));
const FROM_DIST = useDist(PACKAGES);

const src = (p: string) => fileURLToPath(new URL(`./packages/celeriac/src/${p}`, import.meta.url));

// Test files under src/ that talk to RabbitMQ: they run with the integration tests, each in a
// process of its own, so a connection one of them leaves behind cannot fail another file.
const SERVICE_TESTS_UNDER_SRC = ['packages/celeriac/src/brokers/amqp/amqp-*.test.ts', 'packages/celeriac/src/brokers/amqp/beat-store.test.ts'];

// Integration test files that keep no process-wide state (no module mocks, no process.env
// edits, no process listeners, no child processes or servers of their own but a short
// redis-cli; spies only on objects of their own; every client, worker and timer closed):
// they run one after another in shared worker processes, as unit files do (project
// `integration-shared`), each with its own keys, vhosts and queues as before. Not here:
// redis/script.test.ts ("Socket already opened" connecting its client after other files in
// the same worker) and redis/broker/wrong-type-and-duplicates
// (an unacked entry left after the acks, in a worker whose lease keeper thread already ran):
// both failed in shuffled runs (`--project integration-shared --maxWorkers 1 --sequence.shuffle`).
const SHARED_WORKER_TESTS = [
  'packages/celeriac/test/beat/{beat-cli,beat-redis,redis-beat-store}.test.ts',
  'packages/celeriac/test/canvas/{add-to-chord,canvas,errbacks,replace,shapes}.test.ts',
  'packages/celeriac/test/cli/{admin,call-result,events,remote,worker-remote}.test.ts',
  'packages/celeriac/test/failure/{backend-outage,fault-proxy-order,stalled-connection-closed}.test.ts',
  'packages/celeriac/test/public-api.test.ts',
  'packages/celeriac/test/redis/backend/{async-result-redis,running-tasks}.test.ts',
  'packages/celeriac/test/redis/broker/{bulk-publish,redis-broker,redis-delayed,redis-eta-handoff,redis-fanout,redis-layout,redis-recovery-handover,redis-restore-marking,running-records,set-aside-bounds,transitions}.test.ts',
  'packages/celeriac/test/redis/{close-deadline,db-isolation,early-ack}.test.ts',
  'packages/celeriac/test/spi/roles.test.ts',
  'packages/dashboard/test/ui/*.test.ts',
  'apps/api/test/deploy-files.test.ts',
  'packages/celeriac/test/worker/{acks,add-to-parent,arguments,celery-events,consume,context,control-flow,failures,follow-up,give-back,pools-async,rate-limits,redelivery,redis-execution,remote-control,retries,revoke,revoke-eta,shutdown,task-events,time-limits}.test.ts',
];

/** Longest files first, unit files last (scripts/test-order.ts says why). */
class LongestFirst extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const { root } = this.ctx.config;
    return Promise.resolve(
      orderTestFiles(files, (spec) => {
        const path = relative(root, spec.moduleId);
        const key = `${spec.project.name}:${path}`;
        return {
          project: spec.project.name,
          isolated: spec.project.config.isolate,
          file: path.split(sep).join('/'),
          durationMs: this.ctx.cache.getFileTestResults(key)?.duration,
          size: this.ctx.cache.getFileStats(key)?.size,
        };
      }),
    );
  }
}

// Integration files that must run the library from src/ even when dist/ is current: they run
// the CLI in-process on `-A <fixture>.ts`, which the library imports itself (`import()` in
// cli/load-app.ts, cli/commands/graph.ts). From src/ that import goes through vitest, which
// loads TypeScript; from dist/ it is Node's, which does not (the bin registers tsx first, and
// a process-wide tsx hook in a shared worker would reach other files). They run in workers of
// their own (project `integration-src`), so no worker holds both copies of a module.
const SOURCE_TESTS = ['packages/celeriac/test/cli/{graph,program}.test.ts'];

/** The plugin that loads dist/ when it is current, for the projects that may (scripts/test-dist.ts). */
const fromDist = FROM_DIST ? [distPlugin(PACKAGES)] : [];

/**
 * V8's optimizing compiler (TurboFan) off in the processes of one file each (integration,
 * chaos). Such a process lives for one file: most of what TurboFan compiles there, on helper
 * threads beside the tests, is never run long enough to pay back. On the 2-core test machine
 * (2026-11-29, a host where the suite took 850-890 s), the worker and Redis test files took 158
 * CPU-s with it off against 199 with it on, and the whole suite 822 s against 849-883. Not in
 * the shared-worker projects: their processes run many files, and unit files that compute
 * (the API report, the settlement sites, the property tests) took a third longer without it.
 */
const ONE_FILE_PROCESS = ['--no-opt'];

export default defineConfig({
  resolve: {
    alias: [
      { find: /^celeriac\/testing\/conformance$/, replacement: src('testing/conformance.ts') },
      { find: /^celeriac\/testing$/, replacement: src('testing/index.ts') },
      { find: /^celeriac\/(redis|memory|beat|monitor|worker|settings|spi)$/, replacement: src('exports/$1.ts') },
      { find: /^celeriac$/, replacement: src('index.ts') },
      // Tests run the dashboard from source too (its package exports dist/, built by npm run build).
      { find: /^@celeriac\/dashboard$/, replacement: fileURLToPath(new URL('./packages/dashboard/src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    // With dist/ current, Node imports it natively instead of the runner evaluating src/.
    ...(FROM_DIST ? { server: { deps: { external: [distPattern(PACKAGES)] } } } : {}),
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Each file's CPU and its children's, logged when asked (scripts/test-cpu.ts).
    setupFiles: process.env['CELERIAC_TEST_CPU_LOG'] ? ['./scripts/test-cpu-setup.ts'] : [],
    // Python processes (the Celery, Flower and OpenTelemetry oracles, hundreds per run) keep the
    // modules they compile in one cache that outlives the run. Without it an environment with
    // PYTHONDONTWRITEBYTECODE set compiles ../shared/oracles' sources afresh in every process,
    // and so would a read-only tree, which gets no __pycache__.
    // Python checks each cached module against its source, so a stale entry is never used.
    env: { PYTHONPYCACHEPREFIX: join(tmpdir(), 'celeriac-test-pycache'), PYTHONDONTWRITEBYTECODE: '' },
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    // Most of the suite's time is spent waiting (Redis, RabbitMQ, Python workers, child
    // processes, pool children starting), not computing; vitest's default of one worker per
    // CPU less one left a single worker on a 2-core machine, so files waited in line.
    // Files never share keys, vhosts or queues (docs/testing.md), so they may overlap.
    // On the idle 2-core test machine (CI=true npm test, same checkout, back to back, 2026-11-23):
    // 4 workers 223 s, 6 workers 192 s, 8 workers 197 s; with 6 and 8 both cores were busy
    // over 95% of the run (sampled from /proc/stat every 5 s), so more would add no speed.
    // The suite has grown fourfold since, and now keeps both cores busy with fewer: on a 2-core
    // AMD host (2026-11-30, `CI=true npm test`, 5-s samples of /proc/stat) 6 workers kept the
    // CPU at 100 % from the first minute to the end, a quarter of it in the kernel, and took
    // 852 s and 1,374 CPU-s; 4 workers took 832 s and 1,287 CPU-s, the CPU still busy 95 % of
    // the run. Files that wait on the CPU beside five others only add switching.
    maxWorkers: Number(process.env['CELERIAC_TEST_WORKERS'] ?? 4),
    // Two projects (docs/testing.md, "How the suite is split"). A fresh worker process costs
    // about half a CPU-second before its first test (node, vitest, then celeriac's module
    // graph evaluated again): most of a unit file's time. Unit files hold no process-wide
    // state, so `unit` runs them one after another in shared workers (`isolate: false`), which
    // load each module once. Integration files start servers, processes and connections and
    // each keeps a process of its own, as before.
    projects: [
      {
        extends: true,
        plugins: fromDist,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/lib/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...SERVICE_TESTS_UNDER_SRC],
          isolate: false,
          // Unit tests wait on nothing but the CPU; the property tests (fast-check) and the
          // depcruise runs of scripts/check-deps take 2-9 s idle and over 20 s at load 30.
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        plugins: fromDist,
        test: {
          name: 'integration',
          execArgv: ONE_FILE_PROCESS,
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'examples/**/*.test.ts', ...SERVICE_TESTS_UNDER_SRC],
          exclude: [...configDefaults.exclude, ...SHARED_WORKER_TESTS, ...SOURCE_TESTS, ...CHAOS_TESTS],
          // The RabbitMQ files' vhosts, made and deleted in batches (scripts/test-vhosts.ts).
          globalSetup: ['scripts/test-vhosts.ts'],
        },
      },
      {
        extends: true,
        plugins: fromDist,
        test: {
          // The chaos suite (scripts/chaos-suite.ts): integration files in every other way.
          name: 'chaos',
          execArgv: ONE_FILE_PROCESS,
          include: [...CHAOS_TESTS],
          // Its one RabbitMQ vhost (amqp-lost-task) is made by the file (test/support/amqp-env.ts):
          // a pool of its own would make a batch for it.
        },
      },
      {
        extends: true,
        plugins: fromDist,
        test: {
          name: 'integration-shared',
          include: SHARED_WORKER_TESTS,
          isolate: false,
        },
      },
      {
        // As integration-shared, always from src/ (SOURCE_TESTS above).
        extends: true,
        test: {
          name: 'integration-src',
          include: SOURCE_TESTS,
          isolate: false,
        },
      },
    ],
  },
});
