/**
 * Commands issued while Redis is away wait for the reconnect at most `offlineQueueTimeoutMs`
 * (connectTimeoutMs) counted from when the connection went down; past it they fail at once,
 * outside the reply watchdog. A script sent raw (node-redis's sendCommand ignores the
 * timeout of a command-options proxy) while the others failed fast under the watchdog was never
 * failed: each quick failure counted as a reply there (a purge hung in CI).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuardedRedisClient } from '../../src/redis/guarded-client.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('failure: commands while Redis is away');
const OFFLINE_MS = 400;

describe.runIf(ready)('failure: commands while Redis is away', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('a raw script queued at the outage fails with the rest, while later commands fail at once', async () => {
    const server = new RedisServerProcess(await freePort());
    await server.start();
    cleanup.push(() => server.kill());
    const client = new GuardedRedisClient(parseRedisUrl(server.url), { name: 'outage-wait', connectTimeoutMs: OFFLINE_MS, offlineQueueTimeoutMs: OFFLINE_MS, commandTimeoutMs: 30_000 });
    cleanup.push(() => client.close(0));
    expect(await client.send((c) => c.ping())).toBe('PONG');
    // performance.now(), which times the outage, faked (moving with real time as well), so the
    // outage can be made to have lasted most of the budget without waiting for it.
    vi.useFakeTimers({ toFake: ['performance'], shouldAdvanceTime: true });
    cleanup.push(async () => void vi.useRealTimers());
    await server.kill();
    await waitFor(() => client.offline, 'the connection known to be down', 5000);
    // The outage has lasted until the budget is nearly spent; then a script is queued, sent raw
    // as runScript sends every script.
    vi.advanceTimersByTime(OFFLINE_MS - 150);
    const script = client.send((c) => (c as unknown as { sendCommand(args: string[]): Promise<unknown> }).sendCommand(['EVAL', 'return 1', '0'])).then(() => 'answered', (e: unknown) => String(e));
    let settled = false;
    void script.then(() => (settled = true));
    // Meanwhile a loop's commands, as a worker's fetches: past the budget each fails at once.
    const quick: number[] = [];
    const started = performance.now();
    while (!settled && performance.now() - started < 10 * OFFLINE_MS) {
      const at = performance.now();
      await client.send((c) => c.ping()).catch(() => undefined);
      quick.push(performance.now() - at);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Failed by the watchdog within about twice the budget: before, never (until Redis was back).
    expect(settled).toBe(true);
    expect(await script).toMatch(/no reply within 400 ms \(reconnecting\)|no answer to the connection's handshake/);
    expect(Math.min(...quick)).toBeLessThan(OFFLINE_MS / 4);
  }, 30_000);
});
