/**
 * The beat store conformance suite on Redis: the broker's own beat store, under a random
 * global_keyprefix per test (keys deleted afterwards). Leases are real Redis PX expiries.
 */
import { describe } from 'vitest';
import { sleep } from 'celeriac/testing';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { beatStoreConformance } from '../../src/testing/beat-store-conformance.js';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('beat store conformance on Redis');
describe.runIf(ready)('redis beat store', () => {
  beatStoreConformance('redis', {
    async open() {
      const prefix = randomKeyPrefix();
      const broker = new RedisBroker(`${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`);
      return {
        broker,
        store: broker.beatStore(),
        pass: sleep,
        close: async () => {
          await broker.close();
          await deleteKeys(prefix);
        },
      };
    },
  });
});
