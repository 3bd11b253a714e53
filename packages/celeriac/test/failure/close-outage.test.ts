/**
 * `app.close()` with Redis down, in a process that runs a worker itself (an API server's
 * graceful shutdown): the CLI bounds its own wait, but a library user's `await app.close()`
 * did not end until the consumer's fetch, sent while Redis was down, had waited out the
 * offline-queue timeout, twice (its retry): 20 s at the default `connectTimeoutMs`, 120 s here.
 */
import { pino } from 'pino';
import { describe, it } from 'vitest';
import { createApp } from '../../src/index.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { Worker } from '../../src/worker/worker.js';
import { shouldRunRedisTests, usePrivateRedis } from '../support/redis.js';

describe.runIf(await shouldRunRedisTests('close with Redis down'))('app.close() with Redis down', () => {
  const { server } = usePrivateRedis();

  it('ends without waiting for the connection the consumer was fetching on', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const app = createApp({ broker: server().url, backend: 'memory://', brokerTransportOptions: { connectTimeoutMs: 60_000 } }, { env: {}, logger });
    app.task('outage.noop', () => null);
    const worker = new Worker(app, { concurrency: 2 });
    try {
      await worker.start();
      await server().kill();
      // The fetch that failed with the connection is retried when the worker says, on a
      // connection still down: that retry is what the close waited for.
      await waitFor(() => lines.some((l) => l.includes('error during fetch')), 'the failed fetch', 10_000);
      const retryAt = Date.parse(/"retryAt":"([^"]+)"/.exec(lines.find((l) => l.includes('error during fetch')) ?? '')?.[1] ?? '');
      await waitFor(() => Date.now() > retryAt + 100, 'the fetch retried', 10_000);
      await worker.close();
      await app.close();
    } finally {
      await server().start();
    }
  }, 30_000);
});
