/**
 * Helpers for the in-process CLI tests: a capturing io, an app on its own memory adapters,
 * and `run(...args)` that calls `main()` as the bin would.
 */
import { main } from '../../src/cli/main.js';
import type { CliContext } from '../../src/cli/io.js';
import { type App, Worker, createApp } from '../../src/index.js';
import { MemoryBackend, MemoryBroker } from '../../src/exports/memory.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { TaskMessage } from '../../src/protocol/types.js';

/** What one `main()` call printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** An app with its own broker and backend (not the process-wide memory:// ones). */
export interface TestApp {
  app: App;
  broker: MemoryBroker;
  backend: MemoryBackend;
}

/** Builds an app with fresh adapters, logging silenced, and two demo tasks. */
export function makeApp(): TestApp {
  const broker = new MemoryBroker();
  const backend = new MemoryBackend();
  const app = createApp({ logLevel: 'silent' }, { broker, backend });
  app.task('cli.add', (x: number, y: number) => x + y);
  app.task('cli.fail', (why: string) => {
    throw new TypeError(why);
  });
  app.task('cli.kw', (...args: unknown[]) => args);
  return { app, broker, backend };
}

/** Starts an in-process worker on the default queue of `app`. */
export async function startWorker(app: App): Promise<Worker> {
  const worker = new Worker(app, { concurrency: 2, hostname: 'test@local' });
  await worker.start();
  return worker;
}

/** Runs the CLI in-process with `args` (without `node celeriac`). */
export async function run(args: readonly string[], options: { app?: App; cwd?: string; tuneHeap?: () => void } = {}): Promise<RunResult> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    io: { out: (s) => void out.push(s), err: (s) => void err.push(s), cwd: options.cwd ?? process.cwd() },
  };
  if (options.app !== undefined) ctx.app = options.app;
  if (options.tuneHeap !== undefined) ctx.tuneHeap = options.tuneHeap;
  const code = await main(['node', 'celeriac', ...args], ctx);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** The task id `call` printed (its only stdout line). */
export function printedId(result: RunResult): string {
  const id = result.stdout.trim();
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`call printed no task id: ${JSON.stringify(result)}`);
  return id;
}

/** A message taken off a queue by hand, decoded, and when it arrived. */
export interface Taken {
  task: TaskMessage;
  priority: number | undefined;
  exchange: string;
  routingKey: string;
  at: number;
}

/** Consumes one message from `queue` (acking it) and decodes it. */
export function takeOne(broker: MemoryBroker, queue: string, timeoutMs = 3000): Promise<Taken> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void consumer.close();
      reject(new Error(`no message on ${queue} within ${timeoutMs} ms`));
    }, timeoutMs);
    const consumer = broker.consume({
      queues: [queue],
      prefetch: 1,
      onDelivery: (delivery) => {
        clearTimeout(timer);
        void consumer.close();
        void delivery.ack();
        const { message, deliveryInfo } = decodeEnvelope(delivery.raw);
        resolve({
          task: decodeTaskMessage(message),
          priority: deliveryInfo.priority ?? message.properties.priority,
          exchange: deliveryInfo.exchange,
          routingKey: deliveryInfo.routing_key,
          at: Date.now(),
        });
      },
    });
  });
}
