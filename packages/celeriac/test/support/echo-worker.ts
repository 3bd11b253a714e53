/**
 * @module test/support/echo-worker
 * The task and worker of the suites that send hand-made messages to one queue and look at
 * what ran (invalid-utf8 on Redis and RabbitMQ): `t.echo(word)` records each run and returns
 * its word; {@link echoBody} is the JSON body of a Celery message of it.
 */
import { Worker, type App } from '../../src/index.js';

/** The task name the hand-made messages carry. */
export const ECHO_TASK = 't.echo';

/** A worker running {@link ECHO_TASK} on one queue. */
export interface EchoWorker {
  /** The words of the runs, in order. */
  readonly runs: string[];
  /** Closes the worker, then the app. */
  close(): Promise<void>;
}

/** Registers {@link ECHO_TASK} on `app` and starts a worker (concurrency 1) on `queue`. */
export async function startEchoWorker(app: App, queue: string): Promise<EchoWorker> {
  const runs: string[] = [];
  app.task(ECHO_TASK, (word: string) => {
    runs.push(word);
    return word;
  });
  const worker = new Worker(app, { queues: [queue], concurrency: 1 });
  await worker.start();
  return {
    runs,
    async close() {
      await worker.close({ deadlineMs: 2000 });
      await app.close();
    },
  };
}

/** The JSON body (protocol 2: args, kwargs, embed) of a message of `t.echo(word)`. */
export function echoBody(word: string): Buffer {
  return Buffer.from(JSON.stringify([[word], {}, { callbacks: null, errbacks: null, chain: null, chord: null }]));
}
