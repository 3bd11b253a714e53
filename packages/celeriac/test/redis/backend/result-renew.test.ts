/**
 * ResultSubscriptions.renew on a real Redis: the subscriptions node-redis lost are made again,
 * the ones it kept are left alone (no second delivery). node-redis's Sentinel client loses them
 * all when a SUBSCRIBE sent while its pub/sub connection was being made fails; here the loss is
 * made by hand, with an UNSUBSCRIBE under ResultSubscriptions' feet.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { ResultSubscriptions } from '../../../src/backends/redis/result-subscriptions.js';
import { encodeResultMeta } from '../../../src/protocol/result.js';
import type { ResultMeta } from '../../../src/protocol/types.js';
import { LazyRedisClient } from '../../../src/redis/lazy-client.js';
import { parseRedisUrl } from '../../../src/redis/url.js';
import { waitFor } from '../../../src/testing/wait-for.js';
import { REDIS_URL, shouldRunRedisTests } from '../../support/redis.js';

const run = await shouldRunRedisTests('ResultSubscriptions.renew');

describe.runIf(run)('ResultSubscriptions.renew', () => {
  it('subscribes again a channel the connection lost, and only that one', async () => {
    const connection = new LazyRedisClient(parseRedisUrl(REDIS_URL), { name: 'celeriac-test-renew' });
    const admin = createClient({ url: REDIS_URL });
    await admin.connect();
    const subscriptions = new ResultSubscriptions(connection, () => undefined);
    const lost = `renew-test-lost-${randomUUID()}`;
    const kept = `renew-test-kept-${randomUUID()}`;
    const heard: string[] = [];
    const listen = (channel: string) => (meta: ResultMeta) => heard.push(`${channel === lost ? 'lost' : 'kept'}:${String(meta.result)}`);
    const numsub = async (channel: string) => (await admin.pubSubNumSub(channel))[channel];
    try {
      await subscriptions.add(lost, listen(lost));
      await subscriptions.add(kept, listen(kept));
      // Lost under its feet: node-redis drops the channel's listeners and unsubscribes it.
      await (await connection.connect()).unsubscribe(lost);
      expect(await numsub(lost)).toBe(0);
      await subscriptions.renew();
      await subscriptions.renew();
      expect(await numsub(lost)).toBe(1);
      expect(await numsub(kept)).toBe(1);
      const text = (result: number, id: string) => encodeResultMeta({ status: 'SUCCESS', result, traceback: null, children: [], date_done: null, task_id: id });
      await admin.publish(lost, text(1, lost));
      await admin.publish(kept, text(2, kept));
      await waitFor(() => heard.length >= 2, 'both results');
      // A marker published last: once it is heard, anything a second subscription would have
      // delivered twice has been delivered too.
      await admin.publish(kept, text(3, kept));
      await waitFor(() => heard.includes('kept:3'), 'the marker');
      expect(heard).toEqual(['lost:1', 'kept:2', 'kept:3']);
    } finally {
      subscriptions.clear();
      await connection.close(0);
      admin.destroy();
    }
  });
});
