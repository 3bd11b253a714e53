import { describe, expect, it } from 'vitest';
import { ConsumerGroup } from './consumer-group.js';
import type { DelayedSet } from './delayed.js';
import { Maintenance } from './maintenance.js';
import { resolveRedisBrokerOptions } from './options.js';
import type { Transitions } from './transitions.js';
import type { BrokerKeys } from '../../redis/keys.js';
import type { RedisTarget } from '../../redis/url.js';

describe('Maintenance', () => {
  // A closing broker stops its duties, then destroys its connection: a duty still waiting on
  // Redis fails with "Disconnects client", and was logged as a background duty that failed.
  it('a duty that fails after stop() is not reported', async () => {
    const logged: string[] = [];
    const options = resolveRedisBrokerOptions({ leaseRenewal: 'event-loop', log: (_level, msg) => void logged.push(msg) });
    let cut!: (error: Error) => void;
    const inFlight = new Promise<never>((_resolve, reject) => (cut = reject));
    const never = new Promise<never>(() => undefined);
    let called!: () => void;
    const advertising = new Promise<void>((resolve) => (called = resolve));
    const maintenance = new Maintenance({
      options,
      transitions: { restoreStale: () => never, promoteDue: () => never, renewLeases: () => never } as unknown as Transitions,
      delayed: { advertise: () => (called(), inFlight) } as unknown as DelayedSet,
      id: 'broker-1',
      consumers: new ConsumerGroup(options.log),
      target: {} as RedisTarget,
      keys: {} as BrokerKeys,
    });
    maintenance.start();
    // The presence duty runs at start: it waits on Redis when the broker closes.
    await advertising;
    maintenance.stop();
    cut(new Error('Disconnects client'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(logged).toEqual([]);
  });
});
