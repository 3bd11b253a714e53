/**
 * The fault proxy the outage and chaos tests break connections with must never reorder the
 * bytes of a connection, whatever it is told to do: its `slow` mode used to delay each chunk
 * with a timer of its own and forward at once after `heal()`, so a command sent just after
 * the heal overtook one sent just before it. Redis then answered them in the wrong order and
 * node-redis, which matches replies to commands by order, handed each command the other's
 * reply: the chaos suite's "fetch.lua replied in an unknown shape" lines (a fetch getting an
 * ack's `[1]`), and acks, renewals and result reads silently given wrong replies. A real TCP
 * path never reorders, so this was the harness inventing a failure no network has.
 */
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/testing/wait-for.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('fault proxy ordering');

describe.runIf(ready)('fault proxy: slowed chunks keep their order', () => {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function throughProxy() {
    const proxy = new FaultProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    cleanup.push(() => proxy.close());
    const client = createClient({ url: proxy.redisUrl() });
    client.on('error', () => undefined);
    await client.connect();
    cleanup.push(() => client.destroy());
    return { proxy, client };
  }

  it('a command sent after heal() gets its own reply, not the slowed one before it', async () => {
    const { proxy, client } = await throughProxy();
    proxy.slow(300);
    const first = client.echo('sent-while-slow');
    await waitFor(() => proxy.stats.delayed > 0, 'the first command to be held by the slow link');
    proxy.heal();
    const second = client.echo('sent-after-heal');
    expect(await Promise.all([first, second])).toEqual(['sent-while-slow', 'sent-after-heal']);
  });

  it('a shorter delay set while chunks wait does not let later chunks overtake them', async () => {
    const { proxy, client } = await throughProxy();
    proxy.slow(300);
    const first = client.echo('one');
    await waitFor(() => proxy.stats.delayed > 0, 'the first command to be held by the slow link');
    proxy.slow(1);
    const second = client.echo('two');
    expect(await Promise.all([first, second])).toEqual(['one', 'two']);
  });
});
