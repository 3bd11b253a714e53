/**
 * The session's reply watchdog (amqp/session.ts `awaitReply`) on a real RabbitMQ connection,
 * its clock faked once connected: a reply that never comes gives the connection up after
 * `replyTimeoutMs`, but not while RabbitMQ blocks the connection (a memory or disk alarm holds
 * every reply back; the test sets amqplib's `blocked` flag as a connection.blocked frame does,
 * since the shared server's alarms are not ours to raise), nor in the first `replyTimeoutMs`
 * after it unblocks: it gave up a healthy connection at once after a block longer than the
 * timeout. The cases over a link that really dies are in amqp-publish-blackhole.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AmqpSession } from '../../src/amqp/session.js';
import { parseAmqpUrl } from '../../src/amqp/url.js';
import { amqpAvailable, TEST_AMQP_HOST } from '../support/amqp-env.js';

const ready = await amqpAvailable();

describe.runIf(ready)('failure: the RabbitMQ reply watchdog', () => {
  const sessions: AmqpSession[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  /** A connected session whose warnings land in `logs`, then the watchdog's clock faked. */
  async function connected(logs: string[]): Promise<{ session: AmqpSession; block: (on: boolean) => void }> {
    // No heartbeat: amqplib's two heartbeat intervals, when they start after the clock is faked
    // (a loaded CI run), were counted as the watchdog's.
    const session = new AmqpSession(parseAmqpUrl(`amqp://guest:guest@${TEST_AMQP_HOST}/?heartbeat=0`), { log: (_level, message) => logs.push(message), replyTimeoutMs: 1000 });
    sessions.push(session);
    const model = (await session.connection()) as unknown as { connection: { blocked?: boolean } };
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    return { session, block: (on) => (model.connection.blocked = on) };
  }

  const gaveUp = (logs: string[]) => logs.filter((l) => l.startsWith('giving up the connection to RabbitMQ'));

  it('gives the connection up once a reply is replyTimeoutMs late, naming what waited', async () => {
    const logs: string[] = [];
    const { session } = await connected(logs);
    void session.awaitReply(new Promise(() => undefined), 'a declaration').catch(() => undefined);
    await vi.advanceTimersByTimeAsync(900);
    expect(gaveUp(logs)).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    expect(gaveUp(logs)).toEqual([expect.stringMatching(/: no reply to a declaration for 1\d{3} ms \(replyTimeoutMs 1000\): a dead link$/)]);
  });

  it('waits while RabbitMQ blocks the connection, and a whole timeout again once it unblocks', async () => {
    const logs: string[] = [];
    const { session, block } = await connected(logs);
    void session.awaitReply(new Promise(() => undefined), 'a publish').catch(() => undefined);
    block(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gaveUp(logs)).toEqual([]);
    block(false);
    // The reply has waited a minute, but only the time since the block ended counts.
    await vi.advanceTimersByTimeAsync(700);
    expect(gaveUp(logs)).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(gaveUp(logs)).toEqual([expect.stringMatching(/: no reply to a publish for 1\d{3} ms/)]);
  });

  it('forgets a reply that came, and stops looking when none is waited for', async () => {
    const logs: string[] = [];
    const { session } = await connected(logs);
    expect(await session.awaitReply(Promise.resolve(1), 'a quick one')).toBe(1);
    await expect(session.awaitReply(Promise.reject(new Error('refused')), 'a refused one')).rejects.toThrow('refused');
    await vi.advanceTimersByTimeAsync(5000);
    expect(gaveUp(logs)).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
