import { afterAll } from 'vitest';
import { brokerConformance } from '../../testing/broker-conformance.js';
import { RedisBroker } from './redis-broker.js';
import { deletePrefix, newPrefix, prefixedUrl, rawClient, redisAvailable } from './redis-test-env.js';

const available = await redisAvailable();
const prefix = newPrefix();

if (available) {
  brokerConformance('redis', () => new RedisBroker(prefixedUrl(prefix), { pollIntervalMs: 20 }));
  afterAll(async () => {
    const client = await rawClient();
    await deletePrefix(client, prefix);
    await client.close();
  });
} else {
  console.warn('Redis not reachable: Redis broker conformance skipped (set CI=true to fail instead)');
}
