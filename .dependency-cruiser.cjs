/**
 * Layering rules for packages/celeriac/src (docs/internals.md, "Layers").
 *
 *   errors.ts  <-  protocol  <-  core  <-  {canvas, brokers, backends, beat, monitor}  <-  worker  <-  cli
 *                                    ^
 *                                    +-- redis, amqp  <-  {brokers, backends}
 *
 * - `redis/` is the Redis connection layer shared by the Redis broker and backend adapters:
 *   it may import protocol, core, errors.ts and itself; only brokers/ and backends/ import it.
 *   `amqp/` is the same for RabbitMQ (the amqp broker and the rpc:// backend).
 * - `errors.ts` may be imported by every layer and imports nothing from src.
 * - `brokers/<x>/` and `backends/<x>/` are adapters: one adapter never imports another.
 * - `testing/`, `index.ts` and `exports/` (the package's entry points), `create-app.ts` (the one app
 *   factory) and `transports.ts` (the URL -> adapter edge) may import anything but cli.
 * - `cli/` may import anything; nothing imports cli.
 * - No cycles. Type-only imports count as edges (tsPreCompilationDeps).
 *
 * Layer rules apply to shipped code only: unit tests (`*.test.ts`) beside the code may
 * use fixtures from other layers (fake clock in testing/, the memory broker), but they
 * are still part of the cycle check and may never import cli.
 *
 * Every "may only import" rule is written as a whitelist over src paths, so a new layer
 * folder is forbidden to the lower layers until someone places it in this file on purpose.
 *
 * scripts/check-deps.test.ts proves each rule reports a violation on a fake tree.
 */

const SRC = '^packages/celeriac/src/';
const TESTS = '\\.(test|spec)\\.[cm]?[jt]sx?$';
const ERRORS = `${SRC}errors\\.ts$`;
const MIDDLE = '(canvas|beat|monitor)';
const ADAPTERS = '(brokers|backends)';

/** Node built-ins that do I/O, read the clock's side effects or randomness: banned in protocol. */
const IMPURE_BUILTINS = [
  'fs', 'fs/promises', 'net', 'tls', 'http', 'https', 'http2', 'dgram', 'dns', 'dns/promises',
  'child_process', 'cluster', 'worker_threads', 'crypto', 'readline', 'timers', 'timers/promises',
  'perf_hooks', 'os', 'process', 'inspector', 'repl', 'vm',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Circular dependency (type-only imports included). Move the shared piece down a layer.',
      from: { path: SRC },
      to: { circular: true },
    },
    {
      name: 'no-unresolvable-relative',
      severity: 'error',
      comment:
        'A relative import that does not resolve. Also a canary: if `.js` -> `.ts` resolution broke, ' +
        'every other rule would silently see no edges.',
      from: { path: SRC },
      to: { couldNotResolve: true, path: '^\\.' },
    },
    {
      name: 'errors-imports-nothing',
      severity: 'error',
      comment: 'src/errors.ts sits below every layer: it may not import anything from src.',
      from: { path: ERRORS },
      to: { path: SRC },
    },
    {
      name: 'protocol-only-errors-and-self',
      severity: 'error',
      comment:
        'protocol/ is pure wire formats: it imports only protocol/, errors.ts and non-I/O node built-ins ' +
        '(no npm packages).',
      from: { path: `${SRC}protocol/`, pathNot: TESTS },
      to: {
        pathNot: [`${SRC}protocol/`, ERRORS],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'protocol-no-io-builtins',
      severity: 'error',
      comment: 'protocol/ is pure: no I/O, no clock, no randomness. Inject these from core (Clock) instead.',
      from: { path: `${SRC}protocol/`, pathNot: TESTS },
      to: {
        dependencyTypes: ['core'],
        path: `^(node:)?(${IMPURE_BUILTINS.map((m) => m.replace('/', '\\/')).join('|')})$`,
      },
    },
    {
      name: 'core-only-protocol-errors-self',
      severity: 'error',
      comment: 'core/ may import only protocol/, errors.ts and core/ from src.',
      from: { path: `${SRC}core/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}(protocol|core)/`, ERRORS] },
    },
    {
      name: 'redis-only-protocol-core-errors-self',
      severity: 'error',
      comment:
        'redis/ (the shared Redis connection layer) may import only protocol/, core/, errors.ts and itself: ' +
        'never brokers, backends, worker, cli, testing, index.ts or transports.ts.',
      from: { path: `${SRC}redis/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}(protocol|core|redis)/`, ERRORS] },
    },
    {
      name: 'amqp-only-protocol-core-errors-self',
      severity: 'error',
      comment:
        'amqp/ (the shared AMQP connection layer) may import only protocol/, core/, errors.ts and itself: ' +
        'never brokers, backends, worker, cli, testing, redis, index.ts or transports.ts.',
      from: { path: `${SRC}amqp/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}(protocol|core|amqp)/`, ERRORS] },
    },
    {
      name: 'middle-layer-only-below-and-self',
      severity: 'error',
      comment:
        'canvas/, beat/, monitor/ may import only protocol/, core/, errors.ts and their ' +
        'own folder: never worker, cli, testing, redis, each other, index.ts or transports.ts.',
      from: { path: `${SRC}${MIDDLE}/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}$1/`, `${SRC}(protocol|core)/`, ERRORS] },
    },
    {
      name: 'adapters-only-below-redis-and-self',
      severity: 'error',
      comment:
        'brokers/ and backends/ may import only protocol/, core/, redis/, amqp/, errors.ts and their own folder: ' +
        'never worker, cli, testing, each other, canvas, beat, monitor, index.ts or transports.ts.',
      from: { path: `${SRC}${ADAPTERS}/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}$1/`, `${SRC}(protocol|core|redis|amqp)/`, ERRORS] },
    },
    {
      name: 'adapter-not-to-other-adapter',
      severity: 'error',
      comment:
        'A broker adapter folder (brokers/<x>/) never imports another adapter folder (brokers/<y>/); ' +
        'same for backends. Shared code goes in brokers/*.ts, backends/*.ts or core/.',
      from: { path: `${SRC}(brokers|backends)/([^/]+)/`, pathNot: TESTS },
      to: { path: `${SRC}$1/[^/]+/`, pathNot: `${SRC}$1/$2/` },
    },
    {
      name: 'worker-no-monitor-cli-edges',
      severity: 'error',
      comment:
        'worker/ may import protocol, core, canvas, brokers, backends, beat, errors.ts and itself: ' +
        'never monitor, cli, testing, index.ts or transports.ts (libraries receive adapters, edges pick them).',
      from: { path: `${SRC}worker/`, pathNot: TESTS },
      to: { path: SRC, pathNot: [`${SRC}(protocol|core|canvas|brokers|backends|beat|worker)/`, ERRORS] },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'cli/ is the top edge: only cli/ itself imports it (tests included).',
      from: { path: SRC, pathNot: `${SRC}cli/` },
      to: { path: `${SRC}cli/` },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['(^|/)dist/', '(^|/)node_modules/'] },
    moduleSystems: ['es6', 'cjs'],
    // Type-only imports are real design edges too.
    tsPreCompilationDeps: true,
    // Root tsconfig: NodeNext resolution (`./x.js` -> `./x.ts`) plus the `celeriac` path alias,
    // so a self-import through the package name is seen as an edge to src/index.ts.
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: false,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
