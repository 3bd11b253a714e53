import { afterAll } from 'vitest';
import { brokerConformance } from '../../../src/testing/broker-conformance.js';
import { bindingsConformance, fanoutConformance } from '../../../src/testing/broker-fanout-conformance.js';
import { delayedListingConformance, setAsideListingConformance } from '../../../src/testing/broker-listing-conformance.js';
import { RedisBroker } from '../../../src/brokers/redis/redis-broker.js';
import { waitFor } from '../../../src/testing/wait-for.js';
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
    await waitFor(async () => (await client.zScore(`${prefix}celeriac.promoters`, broker.id)) !== null, 'the broker to advertise itself as a promoter');
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
