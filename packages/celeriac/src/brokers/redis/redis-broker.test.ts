import { afterAll } from 'vitest';
import { brokerConformance } from '../../testing/broker-conformance.js';
import { bindingsConformance, fanoutConformance } from '../../testing/broker-fanout-conformance.js';
import { delayedListingConformance, setAsideListingConformance } from '../../testing/broker-listing-conformance.js';
import { RedisBroker } from './redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

/**
 * A broker that already consumes an idle queue, so it is a live ETA promoter and future-ETA
 * publishes wait in the delayed set (with no Celeriac worker alive they would be queued with
 * their eta header instead: redis-delayed.test.ts covers that).
 */
async function promotingBroker(): Promise<RedisBroker> {
  const broker = new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20 });
  broker.consume({ queues: ['conformance-idle'], prefetch: 1, onDelivery: () => undefined });
  const client = await rawClient();
  try {
    const deadline = Date.now() + 5000;
    while ((await client.zScore(`${prefix}celeriac.promoters`, broker.id)) === null) {
      if (Date.now() > deadline) throw new Error('the broker did not advertise itself as a promoter within 5 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await client.close();
  }
  return broker;
}

if (available) {
  // Every broker role the Redis broker plays (its beat store: test/beat/redis-beat-store.test.ts).
  brokerConformance('redis', promotingBroker);
  fanoutConformance('redis', promotingBroker);
  bindingsConformance('redis', promotingBroker);
  delayedListingConformance('redis', promotingBroker);
  setAsideListingConformance('redis', promotingBroker);
  afterAll(async () => {
    const client = await rawClient();
    await deletePrefix(client, prefix);
    await client.close();
  });
} else {
  console.warn('Redis not reachable: Redis broker conformance skipped (set CI=true to fail instead)');
}
