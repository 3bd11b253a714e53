/**
 * The chaos suite: vitest's `chaos` project (vitest.config.ts; `npm run test:chaos`, and every
 * `npm test`, CI's included, runs it under that name). The seeded fault schedule and the
 * fuzzer (test/chaos/), and the fault cases that each need a file of their own (their own
 * servers, processes or nodes), listed here by what they break.
 */

/** The fault cases under packages/celeriac/test/failure/, by file name, with what each breaks. */
export const CHAOS_CASES: Readonly<Record<string, string>> = {
  'startup-races': 'a worker started while Redis answers LOADING, READONLY, OOM or MASTERDOWN, or refuses its password',
  'startup-races-cli': 'the same through `celeriac worker`: retried with one line per state, exit 78 on a wrong password, SIGTERM while waiting',
  'poison-crash-loop': 'a task that kills its worker, ahead of 20 innocent tasks: only the poison is dead-lettered',
  'lost-task': 'a worker SIGKILLed mid-task, and a blocked event loop beside a well-behaved task (Redis)',
  'amqp-lost-task': 'the same on RabbitMQ',
  'amqp-node-restart': 'a RabbitMQ node killed -9 and restarted under load (a private node)',
  'amqp-cluster': 'the node of a three-node RabbitMQ cluster holding the quorum queue killed -9 and restarted',
};

/** The chaos project's files (globs, relative to the repository). */
export const CHAOS_TESTS: readonly string[] = [
  'packages/celeriac/test/chaos/*.test.ts',
  ...Object.keys(CHAOS_CASES).map((name) => `packages/celeriac/test/failure/${name}.test.ts`),
];
